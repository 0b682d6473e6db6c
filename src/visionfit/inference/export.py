"""Export a finished run to ONNX or TorchScript, with a parity check against eager PyTorch.

The exported graph takes a normalised float batch (N, C, H, W) with a dynamic batch axis and
returns probabilities: (N, num_classes) for classification, (N, K, H, W) for segmentation; a
cross-validation run exports one graph holding the mean over its fold models. Everything else a
user needs to feed it and read it (input size, mean/std, classes, threshold, minimum area) is
written beside it in `export.json`.

>>> result = export_run(Path("runs/simple_cnn-20260101-120000"), "onnx")
>>> print(result.summary())
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from visionfit.data.preprocess import Preprocess
from visionfit.errors import ExportError, OutputExistsError
from visionfit.fileio import link_exclusive, open_regular
from visionfit.inference.agreement import (
    DEFAULT_CHECK_IMAGES,
    DEFAULT_MIN_AGREEMENT,
    agreement_line,
    real_image_agreement,
)
from visionfit.inference.embed import MIN_OPSET, embed_into
from visionfit.runs.files import MODEL_META, WEIGHTS

FORMATS = ("onnx", "torchscript")
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
EXPORT_META = "export.json"
DEFAULT_OPSET = 17
TOLERANCE = 1e-4
PARITY_BATCHES = (1, 3)
INPUT_NAME, OUTPUT_NAME = "input", "probabilities"


@dataclass
class ExportResult:
    """What `export_run` wrote and how close the exported graph is to eager PyTorch."""

    model_path: Path
    meta_path: Path
    format: str
    opset: int | None
    max_abs_diff: float | None
    meta: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the CLI: what was written, its input and output, the parity check."""
        m = self.meta
        shape = f"(batch, {m['in_chans']}, {m['img_size']}, {m['img_size']})"
        inp = f"float32 {shape}, resized and normalised as in export.json"
        if m.get("embedded_preprocessing"):
            inp = f"uint8 (height, width, {m['in_chans']}), one decoded image (resize and "
            inp += "normalisation inside the graph)"
        out = "(" + ", ".join(map(str, m["output"]["shape"])) + ")"
        fmt = "ONNX" if self.format == "onnx" else "TorchScript"
        opset = f" (opset {self.opset})" if self.opset else ""
        if self.max_abs_diff is None:
            parity = "parity check: skipped"
        else:
            batches = " and ".join(map(str, PARITY_BATCHES))
            parity = (
                f"parity vs PyTorch: max abs difference {self.max_abs_diff:.2e} at batch "
                f"{batches} (tolerance {TOLERANCE:.0e})"
            )
        return "\n".join(
            [
                f"exported {m['arch']} ({m['task']}) to {fmt}{opset}: {self.model_path}",
                f"  input: {inp}; output: probabilities {out}",
                f"  {parity}",
                f"  {agreement_line(m.get('agreement'))}",
                f"  preprocessing, classes and post-processing: {self.meta_path}",
            ]
        )


# --------------------------------------------------------------------------------------------------
# torch module -> probability module (the one place that knows how each predictor gets them)


def probability_module(predictor) -> nn.Module:
    """The loaded run as one module: normalised batch -> probabilities (fold mean inside)."""
    return predictor.probability_module.float().cpu().eval()


# --------------------------------------------------------------------------------------------------
# The export


def export_run(
    run_dir: Path,
    fmt: str = "onnx",
    out: Path | None = None,
    *,
    opset: int | None = None,
    check: bool = True,
    check_images: int = DEFAULT_CHECK_IMAGES,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    embed_preprocessing: bool = False,
) -> ExportResult:
    """Export a finished run to `out` (default `RUN/export/<fmt>/`, `RUN/export/onnx-uint8/`
    with `embed_preprocessing`): the model file and `export.json`. Existing files are never
    overwritten. With `check`, the exported graph is compared with eager PyTorch at batch 1 and
    3; a difference above 1e-4 is an ExportError and nothing is written. Then up to
    `check_images` of the run's validation images go through the exported graph as `predict
    --backend` feeds it (inference/agreement.py); agreement below `min_agreement` is an
    ExportError and nothing is written."""
    from visionfit.inference.loading import load_run

    _check_options(fmt, opset, check_images, min_agreement, embed_preprocessing)
    return export_predictor(
        load_run(run_dir),
        fmt,
        out,
        opset=opset,
        check=check,
        check_images=check_images,
        min_agreement=min_agreement,
        embed_preprocessing=embed_preprocessing,
    )


def _check_options(
    fmt: str,
    opset: int | None,
    check_images: int = 0,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    embed: bool = False,
) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise ExportError("--opset applies to --format onnx only")
    if opset is not None and not 7 <= int(opset) <= 20:
        raise ExportError(f"--opset {opset} is outside what the exporter writes (7..20)")
    if check_images < 0:
        raise ExportError(f"--check-images {check_images}: give 0 (no check) or more images")
    if not 0.0 <= min_agreement <= 1.0:
        raise ExportError(f"--min-agreement {min_agreement:g} is outside 0..1 (default 0.99)")
    if embed and fmt != "onnx":
        raise ExportError("--embed-preprocessing applies to --format onnx only")
    if embed and opset is not None and opset < MIN_OPSET:
        raise ExportError(
            f"--embed-preprocessing needs --opset {MIN_OPSET} or higher (ONNX Resize antialias)"
        )


def export_predictor(
    predictor,
    fmt: str = "onnx",
    out: Path | None = None,
    *,
    opset: int | None = None,
    check: bool = True,
    check_images: int = 0,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    embed_preprocessing: bool = False,
) -> ExportResult:
    """`export_run` for a predictor already loaded from its run directory (`check_images`
    defaults to 0 here: `predict --backend onnx` exports through this with the parity check
    only)."""
    _check_options(fmt, opset, check_images, min_agreement, embed_preprocessing)
    if predictor.run_dir is None:
        raise ExportError("only a predictor loaded from a run directory can be exported")
    run_dir = Path(predictor.run_dir)
    if embed_preprocessing:
        opset = opset or MIN_OPSET
    meta = _export_meta(predictor, run_dir, fmt, opset)
    default = "onnx-uint8" if embed_preprocessing else fmt
    out_dir = Path(out) if out is not None else run_dir / "export" / default
    model_path, meta_path = out_dir / MODEL_FILES[fmt], out_dir / EXPORT_META
    for path in (model_path, meta_path):
        if path.exists():
            raise ExportError(f"{path} exists and is never overwritten: remove it or pass --out")
    module = probability_module(predictor)
    tmp = _temp_file(out_dir, model_path.name)
    try:
        diff = _write_graph(module, tmp, fmt, meta, check)
        if embed_preprocessing:
            with _quiet():
                embed_into(tmp, Preprocess.from_meta(predictor.meta), meta, INPUT_NAME)
        opened = lambda: exported_probabilities(tmp, fmt)  # noqa: E731
        meta["agreement"] = real_image_agreement(
            predictor, tmp, opened, check_images, min_agreement, embedded=embed_preprocessing
        )
        _link_new(tmp, model_path)
    finally:
        tmp.unlink(missing_ok=True)
    _write_new_text(meta_path, json.dumps(meta, indent=2))
    return ExportResult(model_path, meta_path, fmt, meta["opset"], diff, meta)


def _temp_file(out_dir: Path, name: str) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    except OSError as e:  # a read-only run directory, a full disk
        raise ExportError(f"cannot write the export to {out_dir}: {e.strerror}") from None
    os.close(fd)
    return Path(tmp_name)


def _write_graph(module: nn.Module, tmp: Path, fmt: str, meta: dict, check: bool) -> float | None:
    """The network's graph at `tmp` and its parity with PyTorch on random batches."""
    sample = _sample_batch(meta, 1, seed=0)
    if fmt == "onnx":
        _to_onnx(module, sample, tmp, meta)
    else:
        _to_torchscript(module, sample, tmp, meta)
    diff = _parity(module, tmp, fmt, meta) if check else None
    meta["parity"] = {
        "max_abs_diff": diff,
        "batch_sizes": list(PARITY_BATCHES) if check else [],
        "tolerance": TOLERANCE,
    }
    return diff


def exported_probabilities(path: Path, fmt: str):
    """What computes the probabilities from a normalised batch, as `predict --backend` uses it:
    onnxruntime's session (backends.use_backend), or the TorchScript module."""
    if fmt == "onnx":
        from visionfit.inference.onnx_runtime import OnnxProbabilities

        return OnnxProbabilities(path)
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu").eval()


def _export_meta(predictor, run_dir: Path, fmt: str, opset: int | None) -> dict:
    m = predictor.meta
    task = predictor.task
    info = {
        "format": fmt,
        "opset": (opset or DEFAULT_OPSET) if fmt == "onnx" else None,
        "input": {"name": INPUT_NAME},
        "output": {"name": OUTPUT_NAME, "kind": "probabilities"},
        "task": task,
        "arch": m.get("arch"),
        "encoder": m.get("encoder"),
        "kind": m.get("kind", "single"),
        "members": list(m.get("members") or []),
        "classes": list(predictor.classes),
        "img_size": int(m["img_size"]),
        "in_chans": int(m["in_chans"]),
        # the preprocessing training's evaluation applied (a run stored without `resize`:
        # squash with area, whatever its `interpolation` said)
        **_preprocess_keys(m),
        "max_pixels": m.get("max_pixels"),
        "threshold": m.get("threshold", 0.5),
        "torch": torch.__version__,
        "source": bundle_fingerprint(run_dir, m),
    }
    info["input"]["shape"] = ["batch", info["in_chans"], info["img_size"], info["img_size"]]
    # What predict does before the graph (data/preprocess.py, data/transforms.py)
    info["preprocess"] = (
        f"decode (EXIF orientation applied; {info['in_chans']} channel(s)), "
        f"{Preprocess.from_meta(m).describe()}, x = (pixel / 255 - mean) / std, channels first"
    )
    # the output's shape and how to read it are the task's (tasks/*/task.py:export_info)
    task_info = predictor.task_impl.export_info(m)
    info["output"]["shape"] = task_info.pop("output_shape")
    info["output"]["kind"] = task_info.pop("output_kind", "probabilities")  # or "value", ...
    info.update(task_info)
    return info


def _preprocess_keys(meta: dict) -> dict:
    return {k: v for k, v in Preprocess.from_meta(meta).meta().items() if k != "img_size"}


def bundle_fingerprint(run_dir: Path, meta: dict) -> dict[str, str]:
    """SHA-256 of the bundle files an export was made from (every fold's for a CV run)."""
    members = list(meta.get("members") or [])
    names = [MODEL_META] + [f"{d}/{f}" for d in members for f in (MODEL_META, WEIGHTS)]
    if not members:
        names.append(WEIGHTS)
    return {name: _sha256(Path(run_dir) / name) for name in names}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sample_batch(meta: dict, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, meta["in_chans"], meta["img_size"], meta["img_size"], generator=g)


def _what(meta: dict) -> str:
    arch = meta.get("arch") or "model"
    if meta.get("encoder"):
        arch += f" (encoder {meta['encoder']})"
    if meta.get("members"):
        arch += f", an ensemble of {len(meta['members'])} fold models"
    return arch


def _reason(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@contextlib.contextmanager
def _quiet():
    """Silence the exporters: warnings, and the IR dump the TorchScript-based ONNX exporter
    prints from C++ on failure (file descriptors 1 and 2, not only sys.stdout)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _import_torchvision_first() -> None:
    """torchvision's first import calls its `_cuda_version` operator; inside a trace (a U-Net
    without timm imports it lazily there) that call lands in the graph and the export fails."""
    with contextlib.suppress(ImportError):
        import torchvision  # noqa: F401


def _to_onnx(module: nn.Module, sample: torch.Tensor, path: Path, meta: dict) -> None:
    _import_torchvision_first()
    # The TorchScript-based exporter (dynamo=False) is the robust path for timm / smp models.
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                module,
                (sample,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=meta["opset"],
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as e:  # the exporters raise many types; all mean "cannot export"
        hint = "try --format torchscript"
        if isinstance(e, torch.onnx.errors.UnsupportedOperatorError):
            hint += " or a higher --opset"
        raise ExportError(
            f"cannot export {_what(meta)} to ONNX (opset {meta['opset']}): {_reason(e)}; {hint}"
        ) from None


def _to_torchscript(module: nn.Module, sample: torch.Tensor, path: Path, meta: dict) -> None:
    _import_torchvision_first()
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(module, sample, check_trace=False)
            # Freezing inlines the weights as constants and folds BatchNorm into convolutions.
            torch.jit.save(torch.jit.freeze(traced), str(path))
    except Exception as e:  # tracing raises many types; all mean "cannot export"
        raise ExportError(
            f"cannot export {_what(meta)} to TorchScript (torch.jit.trace): {_reason(e)}; "
            "try --format onnx"
        ) from None


@torch.no_grad()
def _parity(module: nn.Module, path: Path, fmt: str, meta: dict) -> float:
    """Max abs difference of the exported graph and eager PyTorch over batch 1 and 3."""
    exported = exported_probabilities(path, fmt)
    worst = 0.0
    for i, n in enumerate(PARITY_BATCHES):
        x = _sample_batch(meta, n, seed=i + 1)
        ref = module(x)
        try:
            got = exported(x)
        except Exception as e:  # a graph that loads but cannot run at this batch size
            raise ExportError(
                f"the exported {fmt} graph of {_what(meta)} fails at batch {n}: {_reason(e)}"
            ) from None
        if tuple(got.shape) != tuple(ref.shape):
            raise ExportError(
                f"the exported {fmt} graph of {_what(meta)} gives shape {tuple(got.shape)} at "
                f"batch {n}, PyTorch {tuple(ref.shape)} (is the batch axis fixed in the model?)"
            )
        diff = float(np.max(np.abs(got.float().numpy() - ref.float().numpy())))
        worst = max(worst, diff)
    if not worst <= TOLERANCE:  # NaN fails too
        raise ExportError(
            f"parity check failed for {_what(meta)} ({fmt}): max abs difference {worst:.3g} "
            f"> {TOLERANCE:g} between the exported graph and PyTorch; nothing was written"
        )
    return worst


def _link_new(src: Path, dest: Path) -> None:
    """Put `src` at `dest` unless `dest` exists (a hard link never replaces a file)."""
    try:
        link_exclusive(src, dest)
    except OutputExistsError:
        raise ExportError(
            f"{dest} exists and is never overwritten: remove it or pass --out"
        ) from None


def _write_new_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        _link_new(Path(tmp), path)
    finally:
        Path(tmp).unlink(missing_ok=True)
