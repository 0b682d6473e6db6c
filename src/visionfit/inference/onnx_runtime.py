"""An exported ONNX graph run by onnxruntime: a normalised batch in, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from visionfit.errors import ExportError, RunError


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
