"""Export agreement on real images: the run's own validation images through the exported graph,
the way `predict --backend onnx` feeds it, and through the PyTorch predictor.

A random-tensor parity check (export.py) sees a graph that computes what PyTorch computes; it
cannot see a preprocessing mismatch. This check decodes, resizes and normalises real images
with the predictor's own pipeline (`Predictor.predict_proba`: decode, `eval_transforms`, test-time
flips as the run says) and only swaps what computes the probabilities (`forward_probs`: the
onnxruntime session or the TorchScript module, as `inference/backends.use_backend` does), so the
agreement printed is the agreement a user of `predict --backend onnx` gets. An export with
`--embed-preprocessing` is checked on the consumer's path instead: decode -> uint8 array -> graph.

What "agreement" means is the task's (`Task.export_agreement`): the share of images with the same
top-1 class (binary and multi-label: the same decision at the run's thresholds, per label), of
pixels with the same class (segmentation, at the model size), or for regression 1 - the largest
absolute difference / the target's standard deviation.

>>> images, note = validation_images(Path("runs/simple_cnn-20260101-120000"), 32)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from visionfit.errors import ExportError
from visionfit.runs import files as run_files

DEFAULT_CHECK_IMAGES = 32
DEFAULT_MIN_AGREEMENT = 0.99
# predict's path feeds both the same tensors: float32 kernels differ by ~1e-6, a wrong weight by
# more (relative to the outputs' scale where it exceeds 1: regression values)
REAL_IMAGE_TOLERANCE = 1e-3


@dataclass
class Agreement:
    """The exported graph against PyTorch on `images` real validation images."""

    measure: str  # what `agreement` counts: "top-1", "label decisions", "pixels", "value"
    agreement: float  # 0..1
    max_prob_diff: float  # the largest absolute difference of the outputs (probabilities / values)
    images: int
    source: str  # where the images came from
    missing: int  # listed but no longer on disk (or unreadable now)
    min_agreement: float
    path: str = "predict"  # "predict": predict --backend's pipeline; "uint8": the embedded graph

    def to_json(self) -> dict:
        return {
            "measure": self.measure,
            "agreement": self.agreement,
            "max_prob_diff": self.max_prob_diff,
            "images": self.images,
            "source": self.source,
            "missing": self.missing,
            "min_agreement": self.min_agreement,
            "path": self.path,
        }

    def line(self) -> str:
        how = {"predict": "as predict --backend feeds it", "uint8": "decoded uint8 images in"}
        missing = f"; {self.missing} listed image(s) missing, skipped" if self.missing else ""
        return (
            f"agreement on {self.images} real image(s) ({self.source}, {how[self.path]}): "
            f"{self.measure} {self.agreement:.2%}, largest output difference "
            f"{self.max_prob_diff:.2e} (required: at least {self.min_agreement:.2%}){missing}"
        )


def agreement_line(info: dict | None) -> str:
    """The CLI's line for export.json's `agreement`."""
    if not info:
        return "real-image agreement: not checked"
    if "skipped" in info:
        return f"real-image agreement: skipped ({info['skipped']})"
    keys = ("measure", "agreement", "max_prob_diff", "images", "source", "missing")
    return Agreement(*(info[k] for k in keys), info["min_agreement"], info["path"]).line()


def skipped_json(reason: str) -> dict:
    """export.json's `agreement` when the check did not run, with the reason."""
    return {"skipped": reason}


def validation_images(run_dir: Path, n: int) -> tuple[list[Path], str, int]:
    """Up to `n` of the run's validation images that still exist, spread evenly over the table
    (rows are often sorted by class), the table they came from, and how many listed ones are
    missing. A hold-out run: splits.csv's `val` rows; a cross-validation run: folds.csv (every
    row is an out-of-fold validation image). No table or no rows: ([], reason, 0)."""
    splits = run_files.read_splits(run_dir)
    if splits is not None and "split" in splits.columns and "image" in splits.columns:
        rows, source = list(splits.loc[splits["split"] == "val", "image"]), "splits.csv val rows"
    else:
        folds = run_files.read_folds(run_dir)
        if folds is None or "image" not in folds.columns:
            return [], f"{run_dir} has no splits.csv or folds.csv naming its validation images", 0
        rows, source = list(folds["image"]), "folds.csv out-of-fold rows"
    if not rows:
        return [], f"{source}: none listed", 0
    found = [Path(r) for r in rows if r and Path(r).is_file()]
    missing = len(rows) - len(found)
    if not found:
        return [], f"none of the {len(rows)} {source} exist any more", missing
    if len(found) > n:
        found = [found[int(i)] for i in np.linspace(0, len(found) - 1, n).round()]
    return found, source, min(missing, len(rows))


def compare(
    task_impl,
    meta: dict,
    ref: np.ndarray,
    got: np.ndarray,
    *,
    source: str,
    missing: int,
    min_agreement: float,
    path: str = "predict",
    consequence: str = "nothing was written",
) -> Agreement | None:
    """The task's agreement of two outputs of the same images, refused below `min_agreement`
    or, on predict's path (the same decoded, resized, normalised tensors into both), when an
    output differs by more than REAL_IMAGE_TOLERANCE (a broken graph whose decisions still
    agree); None when no image could be compared."""
    if not len(ref):
        return None
    if ref.shape != got.shape:
        raise ExportError(
            f"the exported graph gives shape {got.shape[1:]} per image on real images, PyTorch "
            f"{ref.shape[1:]}; {consequence}"
        )
    measure, value = task_impl.export_agreement(meta, ref, got)
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    worst = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else float("nan")
    if np.isnan(got).any() and not np.isnan(ref).any():
        worst, value = float("inf"), 0.0
    result = Agreement(measure, float(value), worst, len(ref), source, missing, min_agreement, path)
    if not result.agreement >= min_agreement:  # NaN fails too
        raise ExportError(
            f"the exported graph disagrees with PyTorch on real images: {measure} agreement "
            f"{result.agreement:.2%} < --min-agreement {min_agreement:.2%} on {result.images} "
            f"{source} (largest output difference {worst:.3g}); {consequence}"
        )
    scale = max(1.0, float(np.nanmax(np.abs(ref)))) if ref.size else 1.0
    if path == "predict" and not worst <= REAL_IMAGE_TOLERANCE * scale:
        raise ExportError(
            f"the exported graph's outputs differ from PyTorch's by up to {worst:.3g} on "
            f"{result.images} {source} (the same input tensors; allowed "
            f"{REAL_IMAGE_TOLERANCE * scale:g}), although its {measure} agree: {consequence}"
        )
    return result


@torch.no_grad()
def predict_path_agreement(
    predictor, exported: Callable, images: list[Path], **kw
) -> Agreement | None:
    """`images` through the predictor's own pipeline twice: its PyTorch probabilities, then the
    exported graph's (`exported` in place of `forward_probs`, as `backends.use_backend` does)."""
    own = predictor.forward_probs
    try:
        ref, errors = predictor.predict_proba(images)
        predictor.forward_probs = exported
        try:
            got, _ = predictor.predict_proba(images)
        except Exception as e:  # a graph that loads but cannot run on these inputs
            raise ExportError(
                f"the exported graph fails on real images: {_first_line(e)}; "
                + kw.get("consequence", "nothing was written")
            ) from None
    finally:
        predictor.forward_probs = own
    keep = [not e for e in errors]
    kw["missing"] = kw.get("missing", 0) + len(errors) - sum(keep)
    return compare(predictor.task_impl, predictor.meta, ref[keep], got[keep], **kw)


@torch.no_grad()
def uint8_path_agreement(predictor, session, images: list[Path], **kw) -> Agreement | None:
    """The consumer's path of an `--embed-preprocessing` graph: each image decoded to a uint8
    HxWxC array and fed as it is, against PyTorch's probabilities without test-time flips (the
    graph has none)."""
    from visionfit.data.io import ImageDecodeError, decode_image

    meta = predictor.meta
    ref, errors = predictor.predict_proba(images, tta="none")
    got, kept = [], []
    for i, (image, err) in enumerate(zip(images, errors, strict=True)):
        if err:
            continue
        try:
            arr = decode_image(image, in_chans=meta["in_chans"], max_pixels=predictor.max_pixels)
        except ImageDecodeError:
            continue
        try:
            (out,) = session.run(None, {session.get_inputs()[0].name: arr})
        except Exception as e:  # onnxruntime raises its own types
            raise ExportError(
                f"the exported uint8 graph fails on {image.name} ({arr.shape[1]}x{arr.shape[0]}):"
                f" {_first_line(e)}; " + kw.get("consequence", "nothing was written")
            ) from None
        got.append(out[0])
        kept.append(i)
    kw["missing"] = kw.get("missing", 0) + len(images) - len(got)
    got_arr = np.stack(got) if got else np.zeros((0, *ref.shape[1:]), np.float32)
    return compare(predictor.task_impl, meta, ref[kept], got_arr, path="uint8", **kw)


def real_image_agreement(
    predictor,
    path: Path,
    exported: Callable,
    n: int,
    min_agreement: float,
    *,
    embedded: bool,
    consequence: str = "nothing was written",
) -> dict:
    """export.json's `agreement`: the graph at `path` (`exported()` opens it as predict's
    backend does) against PyTorch on up to `n` of the run's validation images (an ExportError
    below `min_agreement`), or why the check was skipped."""
    if n == 0:
        return skipped_json("--check-images 0")
    if predictor.run_dir is None:
        return skipped_json("the predictor was not loaded from a run directory")
    images, source, missing = validation_images(Path(predictor.run_dir), n)
    if not images:
        return skipped_json(source)
    kw = {
        "source": source,
        "missing": missing,
        "min_agreement": min_agreement,
        "consequence": consequence,
    }
    if embedded:
        result = uint8_path_agreement(predictor, _onnx_session(path), images, **kw)
    else:
        result = predict_path_agreement(predictor, exported(), images, **kw)
    if result is None:
        return skipped_json(f"none of the {len(images)} {source} chosen could be read")
    return result.to_json()


def _onnx_session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(torch.get_num_threads())
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load the exported graph: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]
