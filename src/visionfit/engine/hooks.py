"""What else runs when a run finishes: the HTML report (reports/html.py; the engine sits above
reports/ and imports it). A failing report adds a note, never fails the run."""

from __future__ import annotations

from pathlib import Path

from visionfit.reports.html import write_report


def run_finished(run_dir: Path, notes: list[str]) -> None:
    try:
        write_report(run_dir)
    except Exception as e:  # noqa: BLE001 - plots of odd data must not lose the trained run
        notes.append(f"the HTML report failed: {e}")
