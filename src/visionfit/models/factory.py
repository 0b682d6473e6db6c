"""create_classifier / list_models: timm backbones and the built-in from-scratch nets."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from visionfit.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BUILTINS: dict[str, Callable[..., nn.Module]] = {}


def register_builtin(name: str, builder: Callable[..., nn.Module]) -> None:
    """Register a from-scratch net under `name`; names are unique."""
    if name in _BUILTINS:
        raise ValueError(f"model {name!r} is already registered")
    _BUILTINS[name] = builder


def _register_defaults() -> None:
    from functools import partial

    from visionfit.models.simple import AlexNet, ResNet9, SimpleCNN

    register_builtin("simple_cnn", SimpleCNN)
    register_builtin("alexnet", AlexNet)
    register_builtin("resnet9", ResNet9)  # width 64, as in the speed runs
    register_builtin("resnet9_32", partial(ResNet9, width=32))
    register_builtin("resnet9_16", partial(ResNet9, width=16))


_register_defaults()


@dataclass
class Preprocessing:
    """What the network expects by default: its own statistics and, for a pretrained timm
    network, the eval style of its pretrained config (resize crop, its crop_pct and
    interpolation); data/preprocess.py resolves the run's options against these."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "area"
    resize: str = "squash"
    crop_pct: float | None = None


@dataclass
class CreatedModel:
    model: nn.Module
    preprocessing: Preprocessing
    weights_source: str  # one line: where the initial weights came from


def list_models(pattern: str = "*") -> list[str]:
    """Built-in names followed by timm's model names matching `pattern`."""
    import fnmatch

    import timm

    builtins = [n for n in _BUILTINS if fnmatch.fnmatch(n, pattern)]
    return builtins + timm.list_models(pattern)


def is_builtin(name: str) -> bool:
    return name in _BUILTINS


def check_model_name(name: str) -> None:
    """Raise ModelError with close suggestions when `name` is neither built-in nor a timm model."""
    import timm

    if name in _BUILTINS or timm.is_model(name):
        return
    candidates = list(_BUILTINS) + timm.list_models()
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ModelError(
        f"unknown model {name!r}{hint} (built-ins: {', '.join(_BUILTINS)}; "
        "any timm name, see `visionfit models PATTERN`)"
    )


def create_classifier(
    name: str,
    num_outputs: int,
    *,
    in_chans: int = 3,
    pretrained: bool = False,
    weights: str | Path | None = None,
    drop_rate: float = 0.0,
    head: str = "linear",
    head_hidden: int = 512,
    head_dropout: float | tuple[float, float] = 0.25,
    head_init: str = "default",
) -> CreatedModel:
    """Build a classifier with `num_outputs` logits; `head="mlp"` swaps in models/heads.MLPHead.
    New head layers (the mlp head; a classifier that no weights filled) get `head_init`.

    >>> created = create_classifier("simple_cnn", 3, in_chans=1)
    >>> created.model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 3])
    """
    check_model_name(name)
    if name in _BUILTINS:
        if pretrained and weights is None:
            raise ModelError(
                f"{name!r} is trained from scratch and has no pretrained weights; "
                "use --no-pretrained or give a state dict with --weights PATH"
            )
        model = _BUILTINS[name](num_classes=num_outputs, in_chans=in_chans, drop_rate=drop_rate)
        from visionfit.models.weight_files import LoadReport

        report = LoadReport(source="random init")
        if weights is not None:
            from visionfit.models.weights import apply_state_dict, load_weights_file

            report = apply_state_dict(
                model, load_weights_file(weights), source=f"local file {weights}"
            )
        _init_new_head(model, report, head, head_init)
        pre = Preprocessing(mean=(0.5,) * in_chans, std=(0.5,) * in_chans)
        _attach_head(model, head, num_outputs, head_hidden, head_dropout, head_init)
        return CreatedModel(model, pre, _describe(report))

    from timm.data import resolve_data_config

    from visionfit.models.weights import create_timm_model

    model, report = create_timm_model(
        name,
        num_classes=num_outputs,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        drop_rate=drop_rate,
    )
    cfg = resolve_data_config({}, model=model)
    mean, std = (
        _fit_channels(cfg.get("mean", IMAGENET_MEAN), in_chans),
        _fit_channels(cfg.get("std", IMAGENET_STD), in_chans),
    )
    pre = Preprocessing(mean=mean, std=std)
    if report.source != "random init":  # pretrained or --weights: evaluate as it was trained
        pre.resize, pre.crop_pct = "crop", cfg.get("crop_pct")
        pre.interpolation = str(cfg.get("interpolation") or "bilinear")
    _init_new_head(model, report, head, head_init)
    _attach_head(model, head, num_outputs, head_hidden, head_dropout, head_init)
    return CreatedModel(model, pre, _describe(report))


def _init_new_head(model: nn.Module, report, head: str, init: str) -> None:
    """The classifier that weights did not fill starts anew (N(0, 0.01), or `init`); a network
    of random weights keeps its own classifier init unless `init` asks for another. An mlp head
    replaces the classifier and is initialised by `_attach_head`."""
    from visionfit.models.heads import init_head, reset_new_classifier

    if report.source != "random init":
        reset_new_classifier(model, [*report.skipped, *report.missing], init=init)
    elif head == "linear":
        init_head(model, init)


def _attach_head(model: nn.Module, head: str, num_outputs: int, hidden: int, dropout, init: str):
    from visionfit.models.heads import attach_head

    attach_head(model, head, num_outputs, hidden=hidden, dropout=dropout, init=init)


def _fit_channels(values, in_chans: int) -> tuple[float, ...]:
    """timm configs hold RGB statistics; a grayscale model uses their average."""
    values = tuple(float(v) for v in values)
    if len(values) == in_chans:
        return values
    avg = sum(values) / len(values)
    return (avg,) * in_chans


def _describe(report) -> str:
    if report.source == "random init":
        return report.source
    skipped = f", skipped {len(report.skipped)} tensors (head)" if report.skipped else ""
    return f"{report.source} ({report.loaded} tensors{skipped})"


# ---- one network from a run config, its model.json entries, and back --------------------------


def create_classifier_for(cfg, num_outputs: int) -> CreatedModel:
    """`create_classifier` as a run config (`visionfit.config.RunConfig`) states it: every task
    whose network is a classifier body with `num_outputs` outputs (classes, a value)."""
    return create_classifier(
        cfg.model.name,
        num_outputs,
        in_chans=cfg.data.in_chans,
        pretrained=cfg.model.pretrained,
        weights=cfg.model.weights,
        drop_rate=cfg.model.drop_rate,
        head=cfg.finetune.head,
        head_hidden=cfg.finetune.head_hidden,
        head_dropout=cfg.finetune.mlp_dropouts,
        head_init=cfg.finetune.head_init,
    )


def classifier_meta(cfg, num_outputs: int) -> dict:
    """What model.json records to rebuild that network (`classifier_from_meta`)."""
    return {
        "arch": cfg.model.name,
        "num_outputs": num_outputs,
        "drop_rate": cfg.model.drop_rate,
        "head": cfg.finetune.head,
        "head_hidden": cfg.finetune.head_hidden,
        # the mlp head's (first, second) dropout; a linear head has none of its own
        "head_dropout": list(cfg.finetune.mlp_dropouts) if cfg.finetune.head == "mlp" else None,
    }


def classifier_from_meta(meta: dict) -> nn.Module:
    """The network model.json describes, weights not loaded (bundles load theirs after)."""
    return create_classifier(
        meta["arch"],
        meta["num_outputs"],
        in_chans=meta["in_chans"],
        pretrained=False,
        drop_rate=meta.get("drop_rate", 0.0),
        head=meta.get("head", "linear"),
        head_hidden=meta.get("head_hidden", 512),
        head_dropout=_stored_dropout(meta.get("head_dropout")),
    ).model


def _stored_dropout(value) -> float | tuple[float, float]:
    """model.json's head_dropout: a list of two (a number before they could differ; none for a
    linear head)."""
    if isinstance(value, list) and len(value) == 2:
        return (value[0], value[1])
    return value if isinstance(value, (int, float)) else 0.25
