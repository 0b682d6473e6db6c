"""`visionfit evaluate` for classification: labelled data put in the run's class order, the
true labels beside the predictions, and the files an evaluation folder holds besides
metrics.json: per_class.csv, confusion.csv / confusion.png, roc_pr.png, mistakes.png (the
report's own plots, drawn from these predictions) and predictions.png (a titled grid)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from visionfit.data.labels import stack_targets
from visionfit.errors import DataError
from visionfit.plots.sections import ReportContext
from visionfit.plots.tiles import grid, load_image
from visionfit.tasks.base import EvaluationArgs, EvaluationFiles, TaskData
from visionfit.tasks.classification.plots import (
    confusion_counts,
    plot_confusion,
    plot_mistakes,
    plot_roc_pr,
)
from visionfit.tasks.classification.scoring import _auc, _per_label

VECTOR_MODES = ("multilabel", "soft")  # targets are (N, C) vectors, not one class per image
OK_COLOUR, WRONG_COLOUR = "#1a7f37", "#c62828"


def with_truth(table: pd.DataFrame, df: pd.DataFrame, mode: str, classes: list[str]):
    """The prediction table with the true labels after `image`: `true` (one class per image),
    or `true_<class>` columns (multi-label 0/1, soft-label probabilities)."""
    out = table.copy()
    # float64 text: the exact values scored (a float32's shortest text reads back as another
    # number, which can fall on the other side of a threshold chosen at a probability)
    for c in classes:
        out[f"prob_{c}"] = out[f"prob_{c}"].astype(np.float64)
    if mode in VECTOR_MODES:
        targets = stack_targets(df)
        for j, c in enumerate(classes):
            out.insert(1 + j, f"true_{c}", targets[:, j] if len(df) else [])
    else:
        out.insert(1, "true", df["label"].astype(str).to_numpy())
    return out


def align_classes(data: TaskData, classes: list[str], label_mode: str) -> TaskData:
    """DATA's labels as indices of the run's `classes` (DATA may hold fewer classes, in another
    order); a label the run does not know is a DataError naming it."""
    unknown = [c for c in data.classes if c not in classes]
    if unknown:
        shown = ", ".join(map(repr, unknown[:8])) + (" ..." if len(unknown) > 8 else "")
        raise DataError(
            f"labels not among the run's classes: {shown}; the run knows "
            f"{', '.join(map(repr, classes[:20]))}"
        )
    index = {c: i for i, c in enumerate(classes)}
    df = data.df.copy()
    if label_mode in VECTOR_MODES:
        where = [index[c] for c in data.classes]

        def remap(vector) -> np.ndarray:
            out = np.zeros(len(classes), np.float32)
            out[where] = np.asarray(vector, np.float32)
            return out

        df["targets"] = [remap(t) for t in df["targets"]]
    else:
        df["target"] = df["label"].astype(str).map(index).astype(int)
    return dataclasses.replace(data, df=df, classes=list(classes), label_mode=label_mode)


def read_predictions(out_dir: Path, classes: list[str]) -> pd.DataFrame:
    """predictions.csv as `score_split` wrote it, names and labels kept as text."""
    text = {"image": str, "pred": str, "true": str}
    table = pd.read_csv(out_dir / "predictions.csv", dtype=text, keep_default_na=False)
    for c in classes:
        table[f"prob_{c}"] = pd.to_numeric(table[f"prob_{c}"])
    return table


@dataclasses.dataclass
class _Evaluated:
    """The duck-typed run the report's classification plots read (tasks/.../plots.py)."""

    task: str
    classes: list[str]
    meta: dict
    source: str
    kind: str = "single"
    cache: dict = dataclasses.field(default_factory=dict)
    summary: dict = dataclasses.field(default_factory=dict)


def evaluation_files(args: EvaluationArgs) -> EvaluationFiles:
    data, out_dir = args.data, Path(args.out_dir)
    classes, mode = data.classes, data.label_mode
    table = read_predictions(out_dir, classes)
    found = EvaluationFiles()
    per_class = _per_class(table, classes, mode, args.predictor.meta.get("threshold"))
    _write(found, out_dir / "per_class.csv", per_class, "Per class")
    if mode != "multilabel":  # one class per image (soft labels: the most probable)
        shown = _single_label(table, classes, mode)
        cm = pd.DataFrame(confusion_counts(shown, classes), index=classes, columns=classes)
        cm.index.name = "true \\ predicted"
        (out_dir / "confusion.csv").write_text(cm.to_csv())
        found.files.append(out_dir / "confusion.csv")
        run = _Evaluated(
            "binary" if mode == "binary" else "multiclass",
            classes,
            args.predictor.meta,
            f"{Path(str(args.predictor.run_dir or 'the model')).name} on the evaluated data",
            cache={"predictions": shown},
        )
        ctx = ReportContext(run, out_dir, out_dir, embed=False)
        plots = (
            ("Confusion matrix", plot_confusion),
            ("ROC and precision-recall curves", plot_roc_pr),
            ("Mistakes (highest loss)", plot_mistakes),
        )
        found.add_plots(ctx, plots)
    path = _prediction_grid(table, classes, mode, args, out_dir)
    if path is not None:
        found.figures.insert(0, ("Predictions", path))
        found.files.append(path)
    return found


def _write(found: EvaluationFiles, path: Path, df: pd.DataFrame, title: str) -> None:
    df.to_csv(path, index=False)
    found.files.append(path)
    found.tables.append((title, df))


def _true_matrix(table: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return table[[f"true_{c}" for c in classes]].to_numpy(np.float64)


def _single_label(table: pd.DataFrame, classes: list[str], mode: str) -> pd.DataFrame:
    """image, label (the true class; soft labels: the most probable), pred, prob_<class>..."""
    probs = [f"prob_{c}" for c in classes]
    if mode == "soft":
        label = np.asarray(classes)[_true_matrix(table, classes).argmax(axis=1)]
    else:
        label = table["true"].to_numpy()
    out = pd.DataFrame({"image": table["image"], "label": label, "pred": table["pred"]})
    return pd.concat([out, table[probs]], axis=1)


def _per_class(table: pd.DataFrame, classes: list[str], mode: str, threshold) -> pd.DataFrame:
    """precision, recall, F1, support and one-vs-rest ROC AUC of every class (multi-label: of
    every label, at its threshold)."""
    probs = table[[f"prob_{c}" for c in classes]].to_numpy(np.float64)
    n = len(classes)
    if mode == "multilabel":
        y = _true_matrix(table, classes).round().astype(int)
        t = _per_label(threshold, n)
        pred = (probs >= t[None, :]).astype(int)
        rows = []
        for j, c in enumerate(classes):
            p, r, f, s = precision_recall_fscore_support(
                y[:, j], pred[:, j], labels=[1], zero_division=0
            )
            rows.append([c, t[j], p[0], r[0], f[0], int(s[0]), _auc(y[:, j], probs[:, j])])
        cols = ["class", "threshold", "precision", "recall", "f1", "support", "auroc"]
        return pd.DataFrame(rows, columns=cols)
    shown = _single_label(table, classes, mode)
    index = {c: i for i, c in enumerate(classes)}
    y = shown["label"].map(index).to_numpy(int)
    pred = shown["pred"].map(index).fillna(-1).to_numpy(int)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=list(range(n)), zero_division=0)
    auroc = [_auc((y == j).astype(int), probs[:, j]) for j in range(n)]
    return pd.DataFrame(
        {"class": classes, "precision": p, "recall": r, "f1": f, "support": s, "auroc": auroc}
    )


def _prediction_grid(table, classes, mode, args: EvaluationArgs, out_dir: Path) -> Path | None:
    """predictions.png: the first images with "pred: X (p) / true: Y", green right, red wrong
    (the ants/bees tutorial's visualize_model)."""
    shown = table.head(args.grid_size)
    if shown.empty:
        return None
    in_chans = int(args.predictor.meta.get("in_chans", 3))
    tiles = []
    for _, row in shown.iterrows():
        if mode == "multilabel":
            true = " ".join(c for c in classes if float(row[f"true_{c}"]) >= 0.5)
            pred, caption_p = str(row["pred"]), ""
            right = set(true.split()) == set(pred.split())
        else:
            true = (
                classes[int(np.argmax([float(row[f"true_{c}"]) for c in classes]))]
                if mode == "soft"
                else str(row["true"])
            )
            pred = str(row["pred"])
            prob = row.get(f"prob_{pred}")
            caption_p = f" ({float(prob):.2f})" if prob is not None else ""
            right = pred == true
        caption = f"pred: {pred or '-'}{caption_p}\ntrue: {true or '-'}"
        tiles.append(
            (load_image(row["image"], in_chans), caption, OK_COLOUR if right else WRONG_COLOUR)
        )
    rows = [tiles[i : i + 6] for i in range(0, len(tiles), 6)]
    wrong = sum(t[2] == WRONG_COLOUR for t in tiles)
    title = f"predictions: {len(tiles)} of {len(table)} images ({wrong} wrong, in red)"
    return grid(rows, out_dir, "predictions.png", tile=2.0, title=title)
