"""`visionfit export RUN --verify DIR`: an export that already exists (its export.json and model
file, perhaps copied, converted or edited since) checked again against the run's PyTorch model on
the run's own validation images, through the same path as the check at export time
(inference/agreement.py). Nothing is written; below `--min-agreement` it is an ExportError."""

from __future__ import annotations

from pathlib import Path

from visionfit.errors import ExportError, RunError
from visionfit.inference.agreement import real_image_agreement
from visionfit.inference.export import EXPORT_META, MODEL_FILES, exported_probabilities
from visionfit.runs import files as run_files


def verify_export(run_dir: Path, export_dir: Path, n: int, min_agreement: float) -> dict:
    """The agreement (export.json's `agreement` layout) of the export in `export_dir` with the
    run in `run_dir` on up to `n` validation images; ExportError below `min_agreement`."""
    from visionfit.inference.loading import load_run

    meta = _export_meta(Path(export_dir))
    fmt = meta.get("format")
    if fmt not in MODEL_FILES:
        raise ExportError(f"{export_dir}/{EXPORT_META} names no known format ({fmt!r})")
    model = Path(export_dir) / MODEL_FILES[fmt]
    if not model.is_file():
        raise ExportError(f"{model} not found: --verify takes a folder `visionfit export` wrote")
    if n < 1:
        raise ExportError("--verify needs --check-images 1 or more")
    predictor = load_run(run_dir)
    embedded = bool(meta.get("embedded_preprocessing"))
    info = real_image_agreement(
        predictor,
        model,
        lambda: exported_probabilities(model, fmt),
        n,
        min_agreement,
        embedded=embedded,
        consequence=f"{export_dir} does not compute what the run computes",
    )
    if "skipped" in info:
        raise ExportError(f"cannot verify {export_dir}: {info['skipped']}")
    return info


def _export_meta(export_dir: Path) -> dict:
    """export.json through the run directory's bounded JSON reader (runs/files.py)."""
    path = export_dir / EXPORT_META
    try:
        meta = run_files.read_json(path)
    except RunError as e:
        raise ExportError(f"{e}; --verify takes a folder `visionfit export` wrote") from None
    if not isinstance(meta, dict):
        raise ExportError(f"{path} is not an export's metadata (a JSON object)")
    return meta
