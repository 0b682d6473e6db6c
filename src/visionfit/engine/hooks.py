"""What else runs when a run finishes: the HTML report (reports/html.py) and the model card
(reports/model_card.py; the engine sits above reports/ and imports them). A failing report or
card adds a note, never fails the run."""

from __future__ import annotations

from pathlib import Path

from visionfit.reports.html import write_report
from visionfit.reports.model_card import write_model_card


def run_finished(run_dir: Path, notes: list[str]) -> None:
    for what, write in (("the HTML report", write_report), ("the model card", write_model_card)):
        try:
            write(run_dir)
        except Exception as e:  # noqa: BLE001 - plots of odd data must not lose the trained run
            notes.append(f"{what} failed: {e}")
