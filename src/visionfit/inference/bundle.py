"""The model bundle: model.safetensors + model.json. Loading it never unpickles anything."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from visionfit.errors import RunError, VisionfitError
from visionfit.fileio import UnreadableFileError, atomic_write_bytes, check_regular
from visionfit.runs import files as run_files
from visionfit.runs.files import MODEL_META, WEIGHTS, has_bundle, read_model_meta, write_model_meta
from visionfit.runs.kind import model_kind
from visionfit.tasks.registry import task_for_meta
from visionfit.text import clip

BUNDLE_FORMAT = "visionfit-bundle"
BUNDLE_VERSION = 1


def save_bundle(run_dir: str | Path, model: torch.nn.Module, meta: dict) -> None:
    """Write the network's weights and everything needed to rebuild and feed it."""
    run_dir = Path(run_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # atomic (fsynced temp file + rename) and readable as the user's other files (umask)
    atomic_write_bytes(run_dir / run_files.WEIGHTS, save_safetensors(state))
    write_model_meta(run_dir, {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, **meta})


def read_bundle_meta(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
    meta_path = run_dir / MODEL_META
    if model_kind(run_dir) == "ensemble":
        raise RunError(
            f"{run_dir} is a cross-validation run (an ensemble): visionfit.load() / predict "
            f"use all its folds; a single fold model is in {run_dir}/fold_0 etc."
        )
    if not has_bundle(run_dir):
        raise RunError(
            f"{run_dir} has no model bundle (model.json + model.safetensors): "
            "is it a finished visionfit run? An interrupted run can be continued with --resume"
        )
    meta = read_model_meta(run_dir) or {}
    if meta.get("format") != BUNDLE_FORMAT:
        raise RunError(f"{meta_path} is not a visionfit bundle")
    return meta


def read_bundle_weights(path: Path) -> dict[str, torch.Tensor]:
    """model.safetensors as tensors; a damaged, truncated or foreign file is one RunError naming
    it (safetensors' own errors are not for users)."""
    try:
        check_regular(path)
        with open(path, "rb"):  # no permission is said as such, not as a damaged file
            pass
        return load_file(str(path))
    except PermissionError as e:
        raise RunError(f"{path}: permission denied: give yourself read access to it") from e
    except UnreadableFileError as e:
        why = e.detail
    except Exception as e:  # SafetensorError, OSError, ...: the file is not a whole bundle
        why = clip(" ".join(str(e).split()) or type(e).__name__, 120)
    raise RunError(
        f"{path} is damaged or incomplete ({why}): the model cannot be loaded; restore the file "
        "from a copy or train again"
    )


def load_bundle_model(run_dir: str | Path) -> tuple[torch.nn.Module, dict]:
    """Rebuild the network from model.json and load model.safetensors (strict)."""
    run_dir = Path(run_dir)
    meta = read_bundle_meta(run_dir)
    task = task_for_meta(meta, str(run_dir / MODEL_META))
    try:
        model = task.model_from_meta(meta)
    except VisionfitError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as e:
        # a value the checks in config.stored do not know, changed by hand or by a disk
        raise RunError(
            f"{run_dir / MODEL_META} describes a network that cannot be built "
            f"({type(e).__name__}: {clip(str(e), 100)}); the file was changed since training: "
            "restore it or retrain"
        ) from None
    state = read_bundle_weights(run_dir / WEIGHTS)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of another shape than model.json's network has
        raise RunError(
            f"weights in {run_dir / WEIGHTS} do not fit the network model.json describes "
            f"({clip(str(e).strip().splitlines()[-1], 100)}): restore both files or retrain"
        ) from None
    if missing or unexpected:
        raise RunError(
            f"weights in {run_dir / 'model.safetensors'} do not fit {meta['arch']!r}: "
            f"{len(missing)} missing, {len(unexpected)} unexpected tensors"
        )
    model.eval()
    # oneDNN / cuDNN convolutions are faster channels-last; outputs do not depend on it
    return model.to(memory_format=torch.channels_last), meta
