"""`visionfit.load(run, backend=...)`: a loaded run whose probabilities come from PyTorch or from
its exported ONNX graph through onnxruntime (in place of "model forward + probabilities").

>>> probs = OnnxProbabilities("runs/simple_cnn-20260101-120000/export/onnx/model.onnx")
>>> probs(torch.randn(5, 3, 32, 32)).shape  # (5, num_classes) probabilities
>>> visionfit.load("runs/simple_cnn-20260101-120000", backend="onnx").predict(["a.png"])
"""

from __future__ import annotations

from pathlib import Path

from visionfit.errors import RunError
from visionfit.inference.onnx_runtime import OnnxProbabilities
from visionfit.runs import files as run_files

BACKENDS = ("torch", "onnx")


def onnx_path(run_dir: Path) -> Path:
    """Where `visionfit.load(run, backend="onnx")` looks for (and puts) the run's ONNX graph."""
    return Path(run_dir) / "export" / "onnx" / "model.onnx"


def ensure_onnx(predictor) -> Path:
    """The run's ONNX graph: exported now (with the parity check) when missing, reused when its
    export.json says it was made from the bundle files as they are now."""
    from visionfit.inference.export import EXPORT_META, bundle_fingerprint, export_predictor

    run_dir, meta = Path(predictor.run_dir), predictor.meta
    path = onnx_path(run_dir)
    if not path.is_file():
        return export_predictor(predictor, "onnx").model_path
    info_path = path.parent / EXPORT_META
    try:
        info = run_files.read_json(info_path)
        if not isinstance(info, dict):
            raise RunError(f"{info_path} is not a JSON object")
    except RunError:
        raise RunError(
            f"{path} has no readable {EXPORT_META} beside it: remove {path.parent} and predict "
            "again (it is re-exported), or run visionfit export"
        ) from None
    if info.get("embedded_preprocessing"):
        raise RunError(
            f"{path} takes decoded uint8 images (exported with --embed-preprocessing); "
            "predict --backend onnx feeds normalised batches: export without "
            f"--embed-preprocessing to {path.parent} (move this export elsewhere first)"
        )
    if info.get("source") != bundle_fingerprint(run_dir, meta):
        raise RunError(
            f"{path} was exported from other weights than {run_dir}'s bundle now: remove "
            f"{path.parent} and predict again (it is re-exported)"
        )
    return path


def use_backend(predictor, backend: str):
    """Make a loaded predictor compute probabilities with `backend` ("torch" leaves it as is):
    its `forward_probs` (forward + probabilities + fold mean) becomes the ONNX session; decoding,
    test-time flips and the task's post-processing stay as they are."""
    if backend not in BACKENDS:
        raise RunError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend == "torch":
        return predictor
    if predictor.run_dir is None:
        raise RunError("backend='onnx' needs a predictor loaded from a run directory")
    if not hasattr(predictor, "forward_probs"):
        raise RunError(f"{predictor.run_dir} is not a network run: it has no ONNX backend")
    predictor.forward_probs = OnnxProbabilities(ensure_onnx(predictor))
    predictor.backend = backend
    return predictor


def load(run_dir: str | Path, *, backend: str = "torch"):
    """Load a finished run for prediction (model.json + model.safetensors; no pickle). A
    cross-validation run gives its fold ensemble; other run kinds come from `RUN_LOADERS`.
    `backend="onnx"` computes the probabilities with onnxruntime on `RUN/export/onnx/model.onnx`
    (exported, with its parity check, when missing)."""
    from visionfit.inference.loading import load_run

    return use_backend(load_run(run_dir), backend)
