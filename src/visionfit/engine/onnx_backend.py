"""Prediction through onnxruntime: an exported graph in place of "model forward + probabilities".

>>> probs = OnnxProbabilities("runs/simple_cnn-20260101-120000/export/onnx/model.onnx")
>>> probs(torch.randn(5, 3, 32, 32)).shape  # (5, num_classes) probabilities
>>> visionfit.load("runs/simple_cnn-20260101-120000", backend="onnx").predict(["a.png"])
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from visionfit.errors import ExportError, RunError

BACKENDS = ("torch", "onnx")


class OnnxProbabilities:
    """An onnxruntime session over an exported graph: normalised batch -> probabilities.

    Threads: onnxruntime's intra-op pool is sized like torch's (`torch.get_num_threads()`, which
    follows OMP_NUM_THREADS) unless `threads` is given, so the two backends compare fairly and
    do not oversubscribe a small machine. CUDA is used when onnxruntime offers it.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None, providers=None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise RunError(f"ONNX model not found: {path} (make one with visionfit export)")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider",) if p in available]
            providers.append("CPUExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=list(providers))
        except Exception as e:  # onnxruntime raises its own exception types
            raise ExportError(f"onnxruntime cannot load {path}: {str(e).splitlines()[0]}") from None
        self.path = path
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        arr = np.ascontiguousarray(x, dtype=np.float32)
        (out,) = self.session.run(None, {self.input_name: arr})
        return torch.from_numpy(out)


def onnx_path(run_dir: Path) -> Path:
    """Where `visionfit.load(run, backend="onnx")` looks for (and puts) the run's ONNX graph."""
    return Path(run_dir) / "export" / "onnx" / "model.onnx"


def ensure_onnx(predictor) -> Path:
    """The run's ONNX graph: exported now (with the parity check) when missing, reused when its
    export.json says it was made from the bundle files as they are now."""
    from visionfit.engine.export import EXPORT_META, bundle_fingerprint, export_predictor

    run_dir, meta = Path(predictor.run_dir), predictor.meta
    path = onnx_path(run_dir)
    if not path.is_file():
        return export_predictor(predictor, "onnx").model_path
    info_path = path.parent / EXPORT_META
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise RunError(
            f"{path} has no readable {EXPORT_META} beside it: remove {path.parent} and predict "
            "again (it is re-exported), or run visionfit export"
        ) from None
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
