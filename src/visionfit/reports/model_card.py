"""MODEL_CARD.md: what a run's model is, what it was trained and scored on, and how to load it.

The layout follows the Hugging Face model card (YAML metadata, then Model details, Uses, Training
data, Evaluation, Bias/risks/limitations, How to get started), so the file can be the README.md
of a folder that `huggingface-cli upload` pushes (reports/hub_folder.py builds that folder).
Everything here is read from the run directory (runs/view.py); the task adds its own sections
(`Task.card_sections`: e.g. classification's most-confused classes and calibration). What only
the user knows (the intended use) is left as a marked gap to fill.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from visionfit.fileio import atomic_write_text
from visionfit.plots import html as h
from visionfit.reports.registry import task_of
from visionfit.reports.sections_common import counts_table, headline, reproduce_command
from visionfit.runs import files
from visionfit.runs.view import RunView

FILL_IN = "_(to fill in: visionfit cannot know this)_"


def _visionfit_version() -> str:
    try:
        return version("visionfit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(source tree)"


def write_model_card(run_dir: str | Path, out: Path | None = None) -> Path:
    """Write the run's model card (default `RUN/MODEL_CARD.md`) and return its path."""
    run = RunView.open(run_dir)
    target = Path(out) if out is not None else run.path / files.MODEL_CARD
    atomic_write_text(target, model_card_text(run))
    return target


def model_card_text(
    run: RunView, *, model_path: str | None = None, onnx_dir: str | None = None
) -> str:
    """The card as Markdown. `model_path`: how the snippets name the model folder (default: the
    run directory as training printed it); `onnx_dir`: where its ONNX export is (default:
    where `visionfit export` puts it, MODEL/export/onnx)."""
    where = model_path or card_run_path(run)
    task = task_of(run)
    parts = [
        _front_matter(run, task),
        f"# {run.name}\n\n{_one_line(run)}",
        _details(run),
        _uses(),
        _training_data(run),
        _evaluation(run, task),
        _limitations(run),
        _how_to_use(run, where, onnx_dir),
    ]
    return "\n\n".join(p.strip() for p in parts if p) + "\n"


def card_run_path(run: RunView) -> str:
    """How the card names the run: as training printed it (summary.json's run_dir)."""
    return str(run.summary.get("run_dir") or run.path)


def has_network(run: RunView) -> bool:
    """A bundle or an ensemble of bundles (a baseline's model.json names scikit-learn pipelines,
    which neither export nor the card's onnxruntime snippet apply to)."""
    return run.kind != "baseline" and run.has_model()


# ---- sections ------------------------------------------------------------------------------


def _front_matter(run: RunView, task) -> str:
    tag = getattr(task, "hub_pipeline_tag", None)
    lines = ["---", "library_name: visionfit", "tags:", "- visionfit"]
    if tag:
        lines.append(f"- {tag}")
        lines.append(f"pipeline_tag: {tag}")
    metric = run.summary.get("main_metric")
    if metric:
        lines += ["metrics:", f"- {_plain_metric(str(metric))}"]
    lines.append("---")
    return "\n".join(lines)


def _plain_metric(metric: str) -> str:
    for prefix in ("val_", "test_"):
        if metric.startswith(prefix):
            metric = metric[len(prefix) :]
    return {"acc": "accuracy"}.get(metric, metric)  # the Hub's metric names


def _one_line(run: RunView) -> str:
    n_train = run.summary.get("n_train") or run.summary.get("n_samples")
    what = f"A `{run.model_name}` model for **{run.task}**"
    if n_train:
        what += f", trained with visionfit {_visionfit_version()} on {n_train} images"
    if run.img_size:
        what += f" at {run.img_size} px"
    what += "."
    if run.kind == "cv":
        what += f" A {run.summary.get('folds')}-fold cross-validation run: its folds' models "
        what += "predict together as an ensemble."
    elif run.kind == "baseline":
        what += " A pixel baseline (scikit-learn on pixel features), not a neural network."
    return what


def _details(run: RunView) -> str:
    m, s = run.meta, run.summary
    rows = {
        "run": run.name,
        "kind": {"single": "one hold-out run", "cv": "k-fold cross-validation"}.get(
            run.kind, run.kind
        ),
        "task": run.task,
        "architecture": run.model_name,
        "weights it started from": s.get("weights_source"),
        "classes" if len(run.classes) > 1 else "target": ", ".join(run.classes) or None,
        "input": _input_text(m) if m else None,
        "epochs": s.get("epochs_run"),
        "best epoch": s.get("best_epoch"),
        "training time": f"{float(s['seconds']):.0f} s" if s.get("seconds") else None,
        "visionfit": _visionfit_version(),
    }
    return "## Model details\n\n" + _table(rows)


def _input_text(meta: dict) -> str:
    size, chans = meta.get("img_size"), meta.get("in_chans", 3)
    text = f"{size} x {size} px, {chans} channel{'s' if chans != 1 else ''}"
    if meta.get("resize"):
        text += f", resized by `{meta['resize']}` ({meta.get('interpolation', '')})"
    if meta.get("mean") is not None:
        text += f", normalised with mean {meta['mean']} and std {meta.get('std')}"
    return text


def _uses() -> str:
    return (
        "## Uses\n\n"
        f"**Intended use.** {FILL_IN} Who should use this model, on what images, for what "
        "decision.\n\n"
        f"**Out of scope.** {FILL_IN} Images or decisions it was not trained or checked for "
        "(other cameras, sites, populations, resolutions)."
    )


def _training_data(run: RunView) -> str:
    data = run.config.get("data", {}) or {}
    source = data.get("csv") or data.get("path") or "?"
    out = [f"## Training data\n\nRead from `{source}`"]
    layout = run.summary.get("layout")
    out[0] += f" ({layout})." if layout else "."
    counts = _counts(run)
    if counts is not None:
        out.append("Images per class and split:\n\n" + counts)
    out.append(_skipped(run))
    leaked = run.summary.get("leaked_val_images")
    if leaked:
        dist = run.summary.get("near_duplicate_distance")
        out.append(
            f"**Near-duplicates.** {leaked} validation images have a near-duplicate among the "
            f"training images (perceptual hash within {dist} bits; `near_duplicates.csv`)."
        )
    notes = run.summary.get("notes") or []
    if notes:
        out.append("**Notes from training.**\n\n" + "\n".join(f"- {n}" for n in notes))
    return "\n\n".join(out)


def _counts(run: RunView) -> str | None:
    table = counts_table(run)  # the report's own table (reports/sections_common.py)
    return None if table is None else _md_table(table.set_index(table.columns[0]))


def _skipped(run: RunView) -> str:
    skipped = run.read_csv(files.SKIPPED)
    if skipped is None or skipped.empty:
        return "**Skipped files.** None: every image found was used."
    reasons = skipped["reason"].astype(str).value_counts()
    lines = "\n".join(f"- {reason}: {n}" for reason, n in reasons.items())
    return f"**Skipped files** ({len(skipped)}, listed in `skipped.csv`):\n\n{lines}"


def _evaluation(run: RunView, task) -> str:
    s = run.summary
    if run.kind == "single":
        scheme = f"a hold-out validation split of {s.get('n_val')} images"
        monitor = run.monitor
        if monitor:
            scheme += f"; the best epoch was chosen by `{monitor}` on it"
    else:
        scheme = f"{s.get('folds')}-fold cross-validation: every image scored by the fold that "
        scheme += "did not train on it (out-of-fold)"
    group = (run.config.get("data", {}) or {}).get("group_col")
    if group:
        scheme += f", grouped by `{group}` (a group never straddles train and validation)"
    rows = {f"{s.get('main_metric')} (the headline score)": s.get("score")}
    rows.update({k: v for k, v in headline(run).items() if k not in _DETAIL_KEYS})
    out = [f"## Evaluation\n\nValidation scheme: {scheme}.", _table(rows)]
    if not (s.get("test") or {}).get("metric"):
        out.append("No test split was scored: the numbers above are validation scores.")
    if task is not None:
        for title, body in task.card_sections(run):
            out.append(f"### {title}\n\n{body}")
    return "\n\n".join(out)


_DETAIL_KEYS = {"run", "kind", "task", "model", "classes", "target", "input size", "training time"}


def _limitations(run: RunView) -> str:
    lines = [
        "The scores above come from images of the same source as the training images; on "
        "images from elsewhere (another camera, site or time) expect them to be lower.",
    ]
    iv = run.summary.get("interval") or {}
    if iv.get("low") is not None and iv.get("high") is not None:
        width = float(iv["high"]) - float(iv["low"])
        if width > 0.1:
            lines.append(
                f"The 95 % interval of the validation score is {width:.2f} wide: more labelled "
                "images would narrow it."
            )
    lines.append(f"{FILL_IN} Known failure cases, biases of the data, risks of misuse.")
    return "## Bias, risks and limitations\n\n" + "\n".join(f"- {line}" for line in lines)


def _how_to_use(run: RunView, where: str, onnx_dir: str | None) -> str:
    out = [
        "## How to get started with the model",
        "With visionfit:",
        "```bash\n"
        f"visionfit predict {where} images/ --out predictions.csv\n"
        f"visionfit serve {where}          # HTTP: POST /predict with an image\n"
        "```",
        "```python\nimport visionfit\n\n"
        f'model = visionfit.load("{where}")   # safetensors + JSON, no pickle\n'
        'df = model.predict(["a.png", "b.jpg"])\n```',
    ]
    if has_network(run):
        onnx = onnx_dir or f"{where}/export/onnx"
        made = "" if onnx_dir else f" (after `visionfit export {where}`, which writes them)"
        out += [
            f"Without visionfit, onnxruntime only: `{onnx}/model.onnx` and `{onnx}/export.json`"
            f"{made}:",
            "```python\nimport json\n\nimport numpy as np\nimport onnxruntime as ort\n\n"
            f'info = json.load(open("{onnx}/export.json"))\n'
            f'sess = ort.InferenceSession("{onnx}/model.onnx")\n'
            '# img: H x W x C uint8, brought to img_size x img_size as info["preprocess"] says\n'
            'x = ((img / 255.0 - info["mean"]) / info["std"]).transpose(2, 0, 1)[None]\n'
            'probs = sess.run(None, {"input": x.astype(np.float32)})[0]\n```',
        ]
    command = reproduce_command(run)
    if command:
        out += ["To train it again:", f"```bash\n{command}\n```"]
    return "\n\n".join(out)


# ---- Markdown tables -----------------------------------------------------------------------


def _table(rows: dict) -> str:
    body = [
        f"| {_cell(k)} | {_cell(h.fmt(v) if isinstance(v, float) else v)} |"
        for k, v in rows.items()
        if v is not None and v != ""
    ]
    return "\n".join(["| | |", "| --- | --- |", *body])


def _md_table(df: pd.DataFrame) -> str:
    cols = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(map(_cell, cols)) + " |", "|" + " --- |" * len(cols)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join(_cell(v) for v in [idx, *row.tolist()]) + " |")
    return "\n".join(lines)


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")
