"""The evaluation folder's report.html: one self-contained page (plots embedded), in the run
report's style: what was scored, the scores, the task's tables and plots, skipped files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from visionfit.fileio import atomic_write_text
from visionfit.plots import html as h
from visionfit.plots.sections import ReportContext, Section
from visionfit.reports.html import page
from visionfit.tasks.base import EvaluationFiles

REPORT = "report.html"


def write_page(ev, extra: EvaluationFiles) -> Path:
    """`ev`: a reports.evaluation.Evaluation; writes OUT/report.html and returns its path."""
    ctx = ReportContext(run=None, plots_dir=ev.out_dir, out_dir=ev.out_dir, embed=True)
    sections = [_scores(ev)]
    sections += [Section(f"table{i}", t, h.table(df)) for i, (t, df) in enumerate(extra.tables)]
    sections += [
        Section(f"figure{i}", title, ctx.img(path, title), [path])
        for i, (title, path) in enumerate(extra.figures)
    ]
    if not ev.skipped.empty:
        text = h.para(f"{len(ev.skipped)} files could not be read and were not scored.")
        sections.append(Section("skipped", "Skipped files", text + h.table(ev.skipped)))
    title = f"evaluation of {ev.run_dir.name}"
    subtitle = f"{ev.model} · {ev.n_images} images of {ev.data} · {ev.out_dir}"
    text = page(
        f"visionfit {title}", title, subtitle, sections, list(ev.notes), notes_title="Notes"
    )
    out = ev.out_dir / REPORT
    atomic_write_text(out, text)
    return out


def _scores(ev) -> Section:
    what = {
        "run": str(ev.run_dir),
        "model": ev.model,
        "data": ev.data,
        "images scored": ev.n_images,
        "files skipped": len(ev.skipped),
        "headline": f"{ev.metric} = {h.fmt(ev.score)}",
    }
    scores = pd.DataFrame({"metric": list(ev.scores), "value": list(ev.scores.values())})
    text = h.para(
        "Predicted as visionfit predict does (the run's preprocessing, test-time flips, "
        "threshold and post-processing) and scored with the code that scores a run's test "
        "split; predictions.csv holds every prediction to recompute them."
    )
    return Section("scores", "Scores", h.kv(what) + text + h.table(scores))
