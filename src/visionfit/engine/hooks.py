"""What else runs when a run finishes: plug-ins named by "module:function", each called with the
run directory. The HTML report (reports/html.py) is one; reports/ uses the engine, so the engine
names it here instead of importing it. A failing plug-in adds a note, never fails the run."""

from __future__ import annotations

import importlib
from pathlib import Path

RUN_FINISHED: list[str] = ["visionfit.reports.html:write_report"]


def run_finished(run_dir: Path, notes: list[str]) -> None:
    for spec in RUN_FINISHED:
        module, _, name = spec.partition(":")
        try:
            getattr(importlib.import_module(module), name)(run_dir)
        except Exception as e:  # noqa: BLE001 - plots of odd data must not lose the trained run
            notes.append(f"{spec} failed: {e}")
