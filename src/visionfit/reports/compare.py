"""One page comparing the runs of a runs folder: the `visionfit runs` table, the scores as bars
and the validation curves of the runs overlaid (CV runs: the mean over folds per epoch).

>>> from visionfit.reports.compare import write_comparison
>>> write_comparison(Path("runs"))            # runs/compare.html (one file, plots embedded)
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from visionfit.errors import RunError
from visionfit.fileio import check_new_path
from visionfit.plots import figure as _plot
from visionfit.plots import html as h
from visionfit.reports._run import RunView, list_runs_table
from visionfit.reports.curves import score_metric
from visionfit.reports.html import CSS, _atomic_write
from visionfit.runs import files as run_files

MAX_CURVES = 12


def write_comparison(
    runs_dir: Path, out: Path | None = None, *, runs: Sequence[str] | None = None
) -> Path:
    """Write the comparison page (default RUNS_DIR/compare.html, rewritten each time; a given
    `out` that exists is never overwritten). `runs` selects run names (default: all)."""
    runs_dir = Path(runs_dir)
    table = list_runs_table(runs_dir)
    if runs:
        unknown = sorted(set(runs) - set(table["run"]))
        if unknown:
            raise RunError(f"no finished run named {', '.join(unknown)} in {runs_dir}")
        table = table[table["run"].isin(runs)]
    if table.empty:
        raise RunError(f"no finished runs in {runs_dir} (runs are made by visionfit train)")
    given = out is not None
    out = Path(out) if given else runs_dir / "compare.html"
    if given:
        check_new_path(out)  # before the work; the exclusive write decides a race
    out.parent.mkdir(parents=True, exist_ok=True)
    views = [RunView.open(runs_dir / name) for name in table["run"]]
    parts = [_table_html(table, runs_dir, out.parent)]
    for fig in (_scores_png(table), _curves_png(views[-MAX_CURVES:])):
        if fig is not None:
            parts.append(
                f'<figure><img src="data:image/png;base64,{fig}" alt="comparison"></figure>'
            )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>visionfit runs: {h.esc(runs_dir)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Runs in {h.esc(runs_dir)}</h1><p>{len(table)} finished runs</p></header>"
        f"<main><section><h2>Runs</h2>{''.join(parts)}</section></main></body></html>"
    )
    _atomic_write(out, page, exclusive=given)
    return out


def _table_html(table: pd.DataFrame, runs_dir: Path, out_dir: Path) -> str:
    df = table.copy()
    df["score"] = [_score_text(r) for _, r in df.iterrows()]
    df = df.drop(columns=[c for c in ("std", "oof") if c in df])
    html_table = h.table(df)
    for name in table["run"]:  # link each run to its report when it has one
        report = runs_dir / name / run_files.REPORT
        if report.is_file():
            href = _relative(report, out_dir)
            html_table = html_table.replace(
                f"<td>{h.esc(name)}</td>", f'<td><a href="{h.esc(href)}">{h.esc(name)}</a></td>', 1
            )
    note = h.para(
        "score: the main metric at the best epoch (single runs), or mean ± std over folds "
        "[pooled out-of-fold] (CV and baseline runs).",
        "muted",
    )
    return html_table + note


def _relative(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _score_text(r) -> str:
    if pd.isna(r["score"]):
        return ""
    text = f"{r['score']:.4f}"
    if not pd.isna(r.get("std")):
        text += f" ± {r['std']:.4f}"
    if not pd.isna(r.get("oof")):
        text += f" [{r['oof']:.4f}]"
    return text


def _scores_png(table: pd.DataFrame) -> str | None:
    df = table.dropna(subset=["score"])
    if df.empty:
        return None
    fig = _plot.figure(min(2.0 + 0.9 * len(df), 16), 4.2)
    ax = fig.subplots()
    x = np.arange(len(df))
    std = df["std"].astype(float).fillna(0).to_numpy()
    metrics = sorted(set(df["metric"]))
    colours = [f"C{metrics.index(m) % 10}" for m in df["metric"]]
    ax.bar(x, df["score"].astype(float), yerr=std, color=colours, capsize=3)
    ax.set_xticks(x, [_plot.short(n, 36) for n in df["run"]], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="score", title="main metric per run (± std over folds)")
    handles = [Patch(color=f"C{i % 10}", label=m) for i, m in enumerate(metrics)]
    ax.legend(handles=handles, fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def _epoch_curves(view: RunView) -> pd.DataFrame | None:
    df = view.metrics()
    if df is not None:
        return df
    folds = [
        pd.read_csv(d / run_files.METRICS)
        for d in view.fold_dirs()
        if (d / run_files.METRICS).is_file()
    ]
    if not folds:
        return None
    return pd.concat(folds).groupby("epoch", as_index=False).mean(numeric_only=True)


def _curves_png(views: list[RunView]) -> str | None:
    curves = [(v, c) for v in views if (c := _epoch_curves(v)) is not None and len(c)]
    if not curves:
        return None
    fig = _plot.figure(12, 4.4)
    ax_loss, ax_score = fig.subplots(1, 2)
    for k, (view, df) in enumerate(curves):
        label = _plot.short(view.name, 30) + (" (fold mean)" if view.kind == "cv" else "")
        if "val_loss" in df:
            ax_loss.plot(
                df["epoch"], df["val_loss"], marker="o", ms=3, color=f"C{k % 10}", label=label
            )
        metric = score_metric(df.columns, view.monitor)
        if metric:
            ax_score.plot(df["epoch"], df[f"val_{metric}"], marker="o", ms=3, color=f"C{k % 10}",
                          label=f"{label}: {metric}")  # fmt: skip
    ax_loss.set(title="validation loss", xlabel="epoch")
    ax_score.set(title="validation score (each run's main metric)", xlabel="epoch")
    for ax in (ax_loss, ax_score):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _png(fig)


def _png(fig) -> str:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_plot.DPI, bbox_inches="tight")
    _plot.plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")
