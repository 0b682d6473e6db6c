"""Report sections every run gets: overview, data, metrics per epoch, curves, augmentation,
folds (CV / baseline), timings, config and how to reproduce."""

from __future__ import annotations

import shlex

import pandas as pd
import yaml

from visionfit.plots import html as h
from visionfit.reports.augment import plot_augment
from visionfit.reports.curves import plot_curves
from visionfit.reports.folds import fold_table, plot_folds
from visionfit.reports.registry import ReportContext, Section, register
from visionfit.runs.files import CONFIG, FOLDS, SKIPPED
from visionfit.tasks.intervals import interval_line


def _of_run(fn):
    """A plot of the run alone, `fn(run, plots_dir)`, as a section's plot function."""
    return lambda ctx: fn(ctx.run, ctx.plots_dir)


def headline(run) -> dict:
    """The numbers a reader wants first, per run kind."""
    s = run.summary
    out: dict = {"run": run.name, "kind": run.kind, "task": run.task, "model": run.model_name}
    if len(run.classes) > 1:
        out["classes"] = ", ".join(run.classes)
    elif run.classes:  # one named column: a target (regression), not classes
        out["target"] = run.classes[0]
    if run.img_size:
        out["input size"] = f"{run.img_size} px"
    if run.kind == "single":
        out["best epoch"] = f"{s.get('best_epoch')} of {s.get('epochs_run', '?')}"
        out[f"{run.monitor} (best epoch)"] = s.get("best_metrics", {}).get(run.monitor)
        for k, v in (s.get("val_final") or {}).items():
            out[f"val {k} (the final model)"] = v
    else:
        main = s.get("main_metric")
        mean, std, oof = (s.get(k, {}) or {} for k in ("cv_mean", "cv_std", "oof"))
        if main in mean:
            out[f"{main} (mean ± std over {s.get('folds')} folds)"] = (
                f"{h.fmt(mean[main])} ± {h.fmt(std.get(main, float('nan')))}"
            )
        if main in oof:
            out[f"{main} (pooled out-of-fold)"] = oof[main]
    if s.get("leakage_corrected") is not None:  # engine/leakage.py
        n, over = s.get("leaked_val_images"), " (mean over folds)" if run.kind == "cv" else ""
        out[
            f"{s.get('main_metric')} without the {n} validation images near-duplicate to "
            f"training images{over} (leakage_corrected; near_duplicates.csv)"
        ] = f"{h.fmt(s.get('leakage_corrected'))} (with them: {h.fmt(s.get('score'))})"
    for key, model in (("test", "the run's model"), ("refit_test", "the refit model")):
        scored = s.get(key) or {}
        if scored.get("metric"):
            model = "the fold ensemble" if key == "test" and run.kind == "cv" else model
            n = scored.get("n_test", "?")
            out[f"test {scored['metric']} ({model}, scored once on {n} images)"] = scored.get(
                "score"
            )
    for key in ("interval", "test_interval"):  # engine/intervals.py: how far to trust them
        iv = s.get(key)
        if isinstance(iv, dict) and iv.get("low") is not None:
            out[f"{iv.get('metric', 'score')}: 95 % interval ({iv.get('of', '')})"] = (
                interval_line(iv).split(" ", 1)[1]
                + " — the sampling variation of these images, not the variation from training "
                "again"
            )
    if s.get("threshold") is not None:
        out["decision threshold"] = s.get("threshold")
    if s.get("seconds") is not None:
        out["training time"] = f"{float(s['seconds']):.1f} s"
    return out


@register("overview", order=0)
def overview(ctx: ReportContext) -> Section:
    run = ctx.run
    notes = "".join(f"<li>{h.esc(n)}</li>" for n in run.summary.get("notes", []) or [])
    body = h.kv(headline(run)) + (f"<ul class='notes'>{notes}</ul>" if notes else "")
    return Section("overview", "Overview", body)


def counts_table(run) -> pd.DataFrame | None:
    """Images per class (or mask kind) and split or fold: the report's and the card's table."""
    df = run.samples()
    if df is None or "label" not in df:
        return None
    if "empty_mask" not in df and len(run.classes) < 2:  # a target, not classes: images per split
        df = df.assign(label="images")
    by = "split" if "split" in df else ("fold" if "fold" in df else None)
    label = (
        df["empty_mask"].map({True: "empty mask", False: "non-empty mask"})
        if ("empty_mask" in df)
        else df["label"].astype(str)
    )
    if by is None:
        table = label.value_counts().rename("images").to_frame()
    else:
        col = df[by].astype(str) if by == "split" else "fold " + df[by].astype(str)
        table = pd.crosstab(label, col, margins=True, margins_name="total")
    # a segmentation run's split table counts empty / non-empty masks, not classes
    table.index.name = "mask" if "empty_mask" in df else "class"
    return table.reset_index()


@register("data", order=10)
def data(ctx: ReportContext) -> Section:
    run, s = ctx.run, ctx.run.summary
    parts = []
    counts = counts_table(run)
    if counts is not None:
        parts.append(h.table(counts))
        if counts.columns[0] == "class" and len(run.classes) > 1:
            per = counts.set_index(counts.columns[0]).drop(index="total", errors="ignore")
            total = per["total"] if "total" in per else per.iloc[:, 0]
            if total.min() > 0:
                parts.append(
                    h.para(f"imbalance (largest / smallest class): {total.max() / total.min():.2f}")
                )
    facts = {
        k: s.get(k)
        for k in (
            "n_train",
            "n_val",
            "n_samples",
            "skipped_files",
            "ignored_files",
            "empty_mask_share",
        )
        if s.get(k) is not None
    }
    parts.append(h.kv(facts))
    skipped = run.read_csv(SKIPPED)
    if skipped is not None and len(skipped):
        reasons = skipped["reason"].value_counts().rename("files").reset_index()
        parts.append(f"<h3>Skipped files ({len(skipped)})</h3>" + h.table(reasons))
        parts.append(h.table(skipped, max_rows=100))
    else:
        parts.append(h.para("No file was skipped: every image decoded.", "muted"))
    return Section("data", "Data", "".join(parts))


@register("metrics", order=20, kinds={"single"})
def metrics(ctx: ReportContext) -> Section | None:
    df = ctx.run.metrics()
    if df is None:
        return None
    best = ctx.run.summary.get("best_epoch")
    pos = (
        int(df.index[df["epoch"] == best][0])
        if best is not None and (df["epoch"] == best).any()
        else None
    )
    note = h.para(
        f"Highlighted: the best epoch ({best}) by {ctx.run.monitor}; "
        "the model bundle holds its weights."
    )
    return Section("metrics", "Metrics per epoch", note + h.table(df, mark_row=pos))


@register("curves", order=30, kinds={"single", "cv"})
def curves(ctx: ReportContext) -> Section | None:
    tag, path = ctx.plot(_of_run(plot_curves), "training curves")
    if path is None:
        return None
    text = "Dashed: training, solid: validation."
    if ctx.run.kind == "cv":
        text += " One colour per fold."
    return Section("curves", "Training curves", h.para(text) + tag, [path])


@register("folds", order=25, kinds={"cv", "baseline"})
def folds(ctx: ReportContext) -> Section | None:
    df = fold_table(ctx.run)
    if df is None:
        return None
    tag, path = ctx.plot(_of_run(plot_folds), "score per fold")
    text = (
        "Each fold's model is scored on the images it did not train on; 'mean' and 'std' "
        "are over "
        "folds, 'oof' pools every out-of-fold prediction."
    )
    return Section(
        "folds",
        "Cross-validation folds",
        h.para(text) + tag + h.table(df),
        [p for p in [path] if p],
    )


@register("augment", order=35, kinds={"single", "cv"})
def augment(ctx: ReportContext) -> Section | None:
    tag, path = ctx.plot(_of_run(plot_augment), "augmentation preview")
    if path is None:
        return None
    return Section("augment", "Augmentation preview", tag, [path])


def _timing(run) -> pd.DataFrame | None:
    frames = []
    for label, folder in [("run", run.path), *((d.name, d) for d in run.fold_dirs())]:
        p = folder / "timing.csv"
        if p.is_file():
            t = pd.read_csv(p)
            if len(t) and "seconds" in t:
                frames.append(
                    {
                        "part": label,
                        "epochs": len(t),
                        "seconds": float(t["seconds"].sum()),
                        "seconds per epoch": float(t["seconds"].mean()),
                    }
                )
    return pd.DataFrame(frames) if frames else None


@register("timings", order=90)
def timings(ctx: ReportContext) -> Section:
    s = ctx.run.summary
    parts = [h.kv({"total seconds": s.get("seconds")})] if s.get("seconds") is not None else []
    t = _timing(ctx.run)
    parts.append(h.table(t) if t is not None else h.para("No per-epoch timing recorded.", "muted"))
    return Section("timings", "Timings", "".join(parts))


@register("config", order=95)
def config(ctx: ReportContext) -> Section:
    text = yaml.safe_dump(ctx.run.config, sort_keys=False) if ctx.run.config else "(no config.yaml)"
    n = text.count("\n")
    body = f"<details><summary>show config.yaml ({n} lines)</summary>{h.pre(text)}</details>"
    return Section("config", "Configuration (config.yaml)", body)


def reproduce_command(run) -> str:
    cfg = run.file(CONFIG)
    if run.kind != "baseline":
        return f"visionfit train --config {shlex.quote(str(cfg))}"
    c = run.config
    data = c.get("data", {})
    args = ["visionfit", "baseline", str(data.get("csv") or data.get("path", "DATA"))]
    for flag, key in (
        ("--model", "model"),
        ("--features", "features"),
        ("--size", "size"),
        ("--seed", "seed"),
    ):
        if c.get(key) is not None:
            args += [flag, str(c[key])]
    if c.get("pca"):
        args += ["--pca", str(c["pca"])]
    folds = run.file(FOLDS)
    args += ["--folds-file", str(folds)] if folds.is_file() else []
    return shlex.join(args)


@register("reproduce", order=99)
def reproduce(ctx: ReportContext) -> Section:
    cmd = reproduce_command(ctx.run)
    extra = ""
    if ctx.run.kind != "baseline":
        extra = h.para(
            "config.yaml is the fully resolved config; add options to override it, and "
            "--seed/--deterministic give identical metrics on the CPU."
        )
    return Section("reproduce", "How to reproduce", h.pre(cmd) + extra)
