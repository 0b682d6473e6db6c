"""Local weight files: read a state dict from .safetensors or a torch file (weights_only, common
containers unwrapped) and put it into a model: keys aligned, a first conv adapted to the input
channels, a head of another shape skipped (and said so)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from visionfit.errors import ModelError
from visionfit.fileio import UnreadableFileError, check_regular
from visionfit.text import clip

_TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")


_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model")


_LIGHTNING_PREFIXES = ("model.", "net.")


MAX_WEIGHTS_BYTES = 64 << 30  # the largest timm checkpoints are a few GiB


def load_error_reason(e: BaseException) -> str:
    """torch / safetensors' reason a file did not load, in one clipped line. torch's unpickling
    advice ("weights_only=False", "trust the source") is dropped: a weights file from a run or a
    user is never unpickled."""
    lines = [" ".join(line.split()) for line in str(e).strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(e).__name__
    if "weights_only" in str(e) or "Weights only load failed" in first:
        first = "not tensors only (Python objects, or not a torch file at all)"
    return clip(first, 100)


@dataclass
class LoadReport:
    """What happened when weights were put into a model.

    `source` is a one-line description ("local file /x/y.pth", "package ...", "random init").
    """

    source: str
    loaded: int = 0
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a `.safetensors` or torch file, unwrapping common containers.

    Torch files are read with `weights_only=True` (no arbitrary unpickling). `{"state_dict": ...}`,
    `{"model": ...}` and `{"model_state_dict": ...}` wrappers, a DataParallel `module.` prefix and a
    Lightning `model.`/`net.` prefix are removed.

    Example:
        >>> state = load_weights_file("runs/exp1/model.safetensors")  # doctest: +SKIP
    """
    p = Path(path).expanduser()
    try:
        check_regular(p, max_bytes=MAX_WEIGHTS_BYTES)
    except UnreadableFileError as e:
        raise ModelError(
            f"cannot read weights file {p}: {e.detail}. Give the path to a .pth, .pt, .bin, .ckpt "
            "or .safetensors file."
        ) from None
    suffix = p.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p), device="cpu")
        elif suffix in _TORCH_SUFFIXES:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        else:
            raise ModelError(
                f"cannot read weights file {p}: unknown extension {p.suffix!r}. Supported: "
                f"{', '.join(('.safetensors', *_TORCH_SUFFIXES))}."
            )
    except ModelError:
        raise
    except Exception as e:  # torch/safetensors raise many types for damaged or foreign files
        reason = load_error_reason(e)
        hint = (
            "If it is a model of yours, re-save its weights with "
            "torch.save(model.state_dict(), path) or as .safetensors."
            if "weights_only" in str(e) or "Unpickl" in type(e).__name__
            else "Check that the file is complete and is a PyTorch or safetensors checkpoint."
        )
        raise ModelError(f"cannot read weights file {p}: {reason}. {hint}") from e

    lightning = suffix == ".ckpt" or (
        isinstance(obj, Mapping) and "pytorch-lightning_version" in obj
    )
    state = _unwrap(obj, p)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if lightning:
        for prefix in _LIGHTNING_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k.removeprefix(prefix): v for k, v in state.items()}
                break
    return state


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Descend into known container keys until a mapping of tensors is found."""
    for _ in range(4):  # containers nest at most a couple of levels in practice
        if not isinstance(obj, Mapping):
            break
        inner = next(
            (obj[k] for k in _CONTAINER_KEYS if k in obj and isinstance(obj[k], Mapping)), None
        )
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise ModelError(
            f"cannot read weights file {path}: it holds a {type(obj).__name__}, not a state dict. "
            "Save weights with torch.save(model.state_dict(), path)."
        )
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        keys = ", ".join(map(str, list(obj)[:8]))
        raise ModelError(
            f"cannot read weights file {path}: no tensors found (top-level keys: {keys}). "
            "Save weights with torch.save(model.state_dict(), path)."
        )
    return state


def _common_first_part(keys: list[str]) -> str | None:
    """The dotted first component shared by all keys ("model."), or None."""
    if not keys or any("." not in k for k in keys):
        return None
    first = keys[0].split(".", 1)[0] + "."
    return first if all(k.startswith(first) for k in keys) else None


def _align_keys(
    state: dict[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    aliases: Mapping[str, str] | None = None,
) -> dict:
    """Strip or add one wrapper prefix ("model.", "net.", ...) when that makes more keys match,
    or rename keys by the model's `aliases` (another library's names for its layers: key prefix
    -> the model's prefix, e.g. torchvision AlexNet's "classifier.6." -> "head.7.")."""

    def score(candidate: dict[str, torch.Tensor]) -> int:
        return sum(1 for k, v in candidate.items() if k in target and target[k].shape == v.shape)

    candidates = [state]
    file_prefix = _common_first_part(list(state))
    if file_prefix:
        candidates.append({k.removeprefix(file_prefix): v for k, v in state.items()})
    model_prefix = _common_first_part(list(target))
    if model_prefix:
        candidates.append({model_prefix + k: v for k, v in state.items()})
    if aliases:
        candidates.append({_renamed(k, aliases): v for k, v in state.items()})
    return max(candidates, key=score)


def _renamed(key: str, aliases: Mapping[str, str]) -> str:
    old = next((a for a in aliases if key.startswith(a)), None)
    return key if old is None else aliases[old] + key.removeprefix(old)


def _first_conv_key(model: nn.Module) -> str | None:
    """The state-dict key of the input conv's weight: from timm's config, else the first 4-D one."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    first = cfg.get("first_conv") if isinstance(cfg, Mapping) else None
    target = model.state_dict()
    if isinstance(first, str) and f"{first}.weight" in target:
        return f"{first}.weight"
    return next((k for k, v in target.items() if k.endswith("weight") and v.ndim == 4), None)


def _adapt_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    from timm.models import adapt_input_conv

    try:
        return adapt_input_conv(in_chans, weight, base_chans=weight.shape[1])
    except TypeError:  # older timm: no base_chans argument, assumes 3
        return adapt_input_conv(in_chans, weight)


def apply_state_dict(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    adapt_in_chans: bool = True,
) -> LoadReport:
    """Copy every tensor whose key and shape match into `model`; report the rest.

    A pretrained input conv with 3 channels is adapted to the model's channel count (timm's
    `adapt_input_conv`); a classifier head of another size is skipped. Raises `ModelError` when no
    tensor matches at all, which means the file is for another architecture.

    Example:
        >>> report = apply_state_dict(model, load_weights_file("w.pth"), source="local file w.pth")
        ... # doctest: +SKIP
    """
    target = model.state_dict()
    state = _align_keys(dict(state), target, getattr(model, "state_dict_aliases", None))

    conv_key = _first_conv_key(model) if adapt_in_chans else None
    if conv_key is not None and conv_key in state:
        src, dst = state[conv_key], target[conv_key]
        if (
            src.ndim == 4
            and src.shape != dst.shape
            and src.shape[0] == dst.shape[0]
            and src.shape[2:] == dst.shape[2:]
        ):
            state = {**state, conv_key: _adapt_conv(src, dst.shape[1])}

    new_state = dict(target)
    loaded: list[str] = []
    skipped: list[str] = []
    for key, value in state.items():
        if key in target and target[key].shape == value.shape:
            new_state[key] = value
            loaded.append(key)
        else:
            skipped.append(key)
    missing = [k for k in target if k not in state]

    # num_batches_tracked counters share names across unrelated nets; they prove nothing
    if not any(not k.endswith("num_batches_tracked") for k in loaded):
        file_keys = ", ".join(list(state)[:4]) or "(none)"
        model_keys = ", ".join(list(target)[:4]) or "(none)"
        raise ModelError(
            f"weights from {source} do not fit this model: no tensor matches by name and shape. "
            f"File keys start: {file_keys}; model keys start: {model_keys}. Give weights saved "
            "from the same architecture."
        )
    model.load_state_dict(new_state)
    return LoadReport(source=source, loaded=len(loaded), skipped=skipped, missing=missing)
