"""`visionfit predict`: classes and probabilities, or masks for a segmentation run."""

from __future__ import annotations

from pathlib import Path

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.config import DataConfig
from visionfit.errors import VisionfitError
from visionfit.fileio import check_new_path, create_exclusive_csv


@command()
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
) -> None:
    """Predict classes and probabilities (CSV: image, pred, prob_<class>...), or for a
    segmentation run mask PNGs at each image's size and an RLE CSV in the training data's format.
    """
    from visionfit.inference.backends import load
    from visionfit.inference.predict import expand_inputs

    predictor = load(run_dir, backend=backend)
    if max_pixels is not None:
        predictor.max_pixels = max_pixels
    column = image_col if image_col is not None else DataConfig().image_col
    paths = expand_inputs(inputs, image_col=column, root=root)
    check_new_path(out)
    if predictor.task == "segment":
        _predict_masks(predictor, paths, out, masks_dir, overlays_dir, batch_size, tta, truth)
        return
    if masks_dir or overlays_dir or truth:
        raise VisionfitError(
            f"--masks-dir, --overlays-dir and --truth are for segmentation runs; {run_dir} "
            f"is a {predictor.task} classifier"
        )
    df = predictor.predict(paths, batch_size=batch_size, tta=tta)
    _write_csv(out, df)
    render.print_predictions(df, out)


def _predict_masks(predictor, paths, out, masks_dir, overlays_dir, batch_size, tta, truth):
    """Mask PNGs, an RLE CSV and, with --truth, dice against the true masks."""
    masks_dir = masks_dir or out.with_name(out.stem + "_masks")
    scores_csv = out.with_name(out.stem + "_scores.csv")
    if truth is not None:
        check_new_path(scores_csv)
    df = predictor.predict(
        paths,
        masks_dir=masks_dir,
        overlays_dir=overlays_dir,
        batch_size=batch_size,
        tta=tta,
        keep_masks=truth is not None,
        progress=True,
    )
    _write_csv(out, df)
    render.print_mask_predictions(df, len(paths), out, masks_dir, overlays_dir, predictor.head.rle)
    if truth is not None:
        from visionfit.tasks.segmentation.outputs import score_predictions

        scores, per_image = score_predictions(predictor, paths, predictor.last_masks, truth)
        _write_csv(scores_csv, per_image)
        render.print_mask_scores(scores, truth, scores_csv)


def _write_csv(path: Path, df) -> None:
    """A new file (never overwritten: of two commands writing one --out, one fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    create_exclusive_csv(path, df)
