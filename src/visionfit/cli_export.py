"""Plain functions behind `visionfit export` and `visionfit predict --backend` (the CLI calls
them; they take and return plain values, so they are tested through Python)."""

from __future__ import annotations

from pathlib import Path

from visionfit.engine.export import FORMATS, export_run
from visionfit.engine.onnx_backend import BACKENDS

__all__ = ["BACKENDS", "FORMATS", "export_command", "load_for_predict"]


def export_command(
    run: str | Path,
    fmt: str = "onnx",
    out: str | Path | None = None,
    *,
    opset: int | None = None,
    check: bool = True,
) -> str:
    """`visionfit export RUN --format onnx|torchscript [--out DIR] [--opset N] [--no-check]`:
    export and return the lines to print (what was written, input/output, parity)."""
    result = export_run(
        Path(run), fmt, Path(out) if out is not None else None, opset=opset, check=check
    )
    return result.summary()


def load_for_predict(run: str | Path, backend: str = "torch"):
    """`visionfit predict RUN ... --backend torch|onnx`: the predictor to call `.predict` on
    (for onnx, RUN/export/onnx/model.onnx, exported with its parity check when missing)."""
    import visionfit

    return visionfit.load(Path(run), backend=backend)
