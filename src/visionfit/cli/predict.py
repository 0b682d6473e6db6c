"""`visionfit predict`: the run's task predicts, writes its files and says what it wrote; the
command is the same for every task (classes, masks, ...)."""

from __future__ import annotations

from pathlib import Path

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.config import DataConfig
from visionfit.fileio import check_new_path, create_exclusive_csv


@command(groups=(o.PROGRESS,))
def predict(
    run_dir: o.RunDir,
    inputs: o.Inputs,
    out: o.PredictOut = Path("predictions.csv"),
    batch_size: o.PredictBatchSize = 64,
    tta: o.Tta = None,
    image_col: o.ImageCol = None,
    root: o.Root = None,
    masks_dir: o.MasksDir = None,
    overlays_dir: o.OverlaysDir = None,
    truth: o.Truth = None,
    max_pixels: o.RunMaxPixels = None,
    backend: o.Backend = "torch",
    fmt: o.PredictFormat = None,
) -> None:
    """Predict classes and probabilities (CSV: image, pred, prob_<class>...), or for a
    segmentation run mask PNGs at each image's size and an RLE CSV in the training data's format
    (or, with --format, a dataset format: VOC PNGs, an RLE CSV, COCO results, YOLO labels).
    """
    from visionfit.inference.backends import load
    from visionfit.inference.predict import expand_inputs
    from visionfit.tasks.base import PredictOutputs

    predictor = load(run_dir, backend=backend)
    if max_pixels is not None:
        predictor.max_pixels = max_pixels
    column = image_col if image_col is not None else DataConfig().image_col
    paths = expand_inputs(inputs, image_col=column, root=root)
    check_new_path(out)
    kind = predictor.task_impl.prediction_type
    outputs = kind.prepare(
        PredictOutputs(out, masks_dir, overlays_dir, truth, fmt), paths, str(run_dir)
    )
    preds = predictor.predictions(
        paths, outputs, keep=truth is not None, batch_size=batch_size, tta=tta, progress=True
    )
    table = preds.table(outputs)
    if table is not None:
        _write_csv(out, table)
    render.print_lines(preds.console_lines(outputs))
    render.warn_unreadable(preds.n_failed)
    if outputs.truth is not None:
        scores, per_image = preds.score(outputs.truth)
        _write_csv(outputs.scores_csv, per_image)
        render.print_scores(scores, outputs.truth, outputs.scores_csv, preds.score_note)


def _write_csv(path: Path, df) -> None:
    """A new file (never overwritten: of two commands writing one --out, one fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    create_exclusive_csv(path, df)
