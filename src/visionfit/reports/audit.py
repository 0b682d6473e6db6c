"""`visionfit audit RUN`: likely wrong labels of a finished run, as a CSV to edit and a grid.

The run's task finds them (`Task.audit`: confident learning on out-of-fold probabilities for
classification, per-image dice for segmentation, residuals for regression); this module opens
the run, gives the task a way to predict with the run's bundle, and writes into a new folder
(RUN/audit, RUN/audit-2, ... or --out, a new or empty folder):

- ``label_issues.csv``: image, given, suggested, self_confidence, rank (1 = most likely wrong),
  flagged (what the method flags; rows after them are further candidates), the task's own
  columns, then ``relabel`` and ``exclude``, empty, for the user to fill: hand the file back
  to `visionfit train --exclude FILE` / `--relabel FILE` (data/label_edits.py);
- ``label_issues.png``: the top issues, each image captioned "given: X / suggested: Y".

>>> result = audit_run("runs/convnet-20250101-120000")  # doctest: +SKIP
>>> result.csv, len(result.findings.issues)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from visionfit.errors import RunError
from visionfit.fileio import atomic_write_csv
from visionfit.plots.tiles import grid, load_image
from visionfit.reports.evaluation import new_output_dir
from visionfit.runs import files as run_files
from visionfit.runs.files import AUDIT_DIR, ISSUES_CSV, ISSUES_PNG
from visionfit.runs.kind import run_kind
from visionfit.runs.view import RunView
from visionfit.tasks.base import AuditArgs, AuditFindings
from visionfit.tasks.registry import task_for_meta, task_for_name

EDIT_COLUMNS = ["relabel", "exclude"]
AUDITABLE = ("cv", "single", "baseline")
PER_ROW = 6


@dataclass
class AuditResult:
    out_dir: Path
    csv: Path
    grid: Path | None
    findings: AuditFindings


def audit_run(run_dir: str | Path, out: str | Path | None = None, *, top: int = 24) -> AuditResult:
    """Audit the labels of the finished run `run_dir`; write the CSV and grid (see the module)."""
    run_dir = Path(run_dir)
    kind = run_kind(run_dir)
    if kind not in AUDITABLE:
        raise RunError(
            f"{run_dir} is not a finished run ({kind}): audit a run that `visionfit train` "
            "finished (with --folds K, every image is audited)"
        )
    if (
        out is not None
        and Path(out).exists()
        and (not Path(out).is_dir() or any(Path(out).iterdir()))
    ):
        raise RunError(f"--out {out} exists and is not an empty folder; choose a new one")
    run = RunView.open(run_dir)
    findings = _task(run).audit(AuditArgs(run=run, predict=lambda images: _predict(run, images)))
    out_dir = new_output_dir(run_dir, out, AUDIT_DIR)
    csv = out_dir / ISSUES_CSV
    atomic_write_csv(csv, issues_table(findings.issues))
    png = _grid(run, findings, out_dir, top)
    return AuditResult(out_dir, csv, png, findings)


def issues_table(issues: pd.DataFrame) -> pd.DataFrame:
    """label_issues.csv: the task's issues in order, with rank and the two columns to edit."""
    df = issues.reset_index(drop=True).copy()
    df.insert(4, "rank", range(1, len(df) + 1))
    for c in EDIT_COLUMNS:
        df[c] = ""
    return df


def _task(run: RunView):
    meta = run.meta or {}
    if meta.get("task_family") or meta.get("task"):
        return task_for_meta(meta, str(run.file(run_files.MODEL_META)))
    return task_for_name(str(run.config.get("data", {}).get("task") or "auto"))


def _predict(run: RunView, images: list[str]) -> pd.DataFrame:
    from visionfit.reports._run import load_predictor

    if not run.has_model():
        raise RunError(f"{run.path} has no model.json to predict its validation images with")
    return load_predictor(run.path).predict(images)


def _grid(run: RunView, findings: AuditFindings, out_dir: Path, top: int) -> Path | None:
    shown = findings.issues[findings.issues["flagged"]].head(max(0, top))
    if shown.empty:
        return None
    in_chans = int(run.meta.get("in_chans", 3)) if run.meta else 3
    tiles = []
    for _, r in shown.iterrows():
        value = r["self_confidence"]
        score = (
            f"{findings.score} {float(value):.2f}"
            if pd.notna(value)
            else f"z {float(r.get('z', math.nan)):.1f}"
        )
        caption = f"given: {r['given']} / suggested: {r['suggested']}\n{score}"
        tiles.append((load_image(r["image"], in_chans), caption))
    rows = [tiles[i : i + PER_ROW] for i in range(0, len(tiles), PER_ROW)]
    title = (
        f"likely label issues: top {len(shown)} of {findings.flagged} flagged "
        f"({findings.source} predictions of {findings.audited} images)"
    )
    return grid(rows, out_dir, ISSUES_PNG, tile=2.0, title=title)
