"""Classifier heads: find a network's final classifier, and swap in the BN-dropout-linear MLP.

`linear` keeps the model's own classifier (timm builds it with the right number of outputs);
`mlp` replaces it with BatchNorm -> Dropout -> Linear -> ReLU -> BatchNorm -> Dropout -> Linear,
the head fast.ai popularised for fine-tuning a pretrained backbone.

Example:
    >>> import timm
    >>> model = timm.create_model("resnet10t", num_classes=3)
    >>> model = attach_head(model, "mlp", 3)
    >>> classifier_names(model)
    ['fc']
"""

from __future__ import annotations

from torch import nn

from visionfit.errors import ModelError

HEADS = ("linear", "mlp")
HEAD_INITS = ("default", "xavier", "kaiming")


class MLPHead(nn.Sequential):
    """BN -> dropout -> linear -> ReLU -> BN -> dropout -> linear, on pooled (N, C) features.

    `dropout`: one rate for both dropouts, or (first, second), e.g. (0.25, 0.5)."""

    def __init__(
        self,
        in_features: int,
        num_outputs: int,
        hidden: int = 512,
        dropout: float | tuple[float, float] = 0.25,
    ):
        first, second = (dropout, dropout) if isinstance(dropout, (int, float)) else dropout
        super().__init__(
            nn.BatchNorm1d(in_features),
            nn.Dropout(first),
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(hidden),
            nn.Dropout(second),
            nn.Linear(hidden, num_outputs),
        )


def init_linear(layer: nn.Linear, init: str, *, before_relu: bool = False) -> None:
    """Initialise a new head layer: "xavier" (Glorot uniform) or "kaiming" (He normal, fan_in,
    with the ReLU gain when a ReLU follows, else the linear one); biases zero. "default" keeps
    the layer's own initialisation."""
    if init not in HEAD_INITS:
        raise ModelError(f"unknown head init {init!r}; choose from {', '.join(HEAD_INITS)}")
    if init == "default":
        return
    if init == "xavier":
        nn.init.xavier_uniform_(layer.weight)
    else:
        gain = "relu" if before_relu else "linear"
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity=gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def init_head(model: nn.Module, init: str, names: list[str] | None = None) -> list[str]:
    """Initialise the linear layers of the head modules `names` (default: the whole head, see
    `classifier_names`) with `init`; returns the layers' names."""
    done = []
    for name in classifier_names(model) if names is None else names:
        head = model.get_submodule(name)
        layers = [(name, head)] if isinstance(head, nn.Linear) else []
        if isinstance(head, MLPHead):
            layers = [(f"{name}.{i}", m) for i, m in enumerate(head) if isinstance(m, nn.Linear)]
        for i, (layer_name, layer) in enumerate(layers):
            init_linear(layer, init, before_relu=i < len(layers) - 1)
            done.append(layer_name)
    return done


def classifier_names(model: nn.Module) -> list[str]:
    """Qualified names of the network's final classifier module(s): the "head".

    An `MLPHead` from `attach_head` is the head as a whole; timm models name their classifier
    themselves (`get_classifier()`; a tuple for distilled models); for other nets it is the last
    `nn.Linear`.
    """
    mlp = [n for n, m in model.named_modules() if isinstance(m, MLPHead)]
    if mlp:  # a head swapped in by attach_head is the head as a whole
        return mlp
    if hasattr(model, "get_classifier"):
        found = model.get_classifier()
        wanted = found if isinstance(found, (tuple, list)) else (found,)
        names = [n for n, m in model.named_modules() if n and any(m is w for w in wanted)]
        if names:
            return names
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(
            f"cannot find the classifier of {type(model).__name__}: it has no linear layer. "
            "Use a model with a linear classifier for --head mlp, --freeze or --finetune."
        )
    return [linears[-1]]


def head_modules(model: nn.Module) -> list[nn.Module]:
    return [model.get_submodule(n) for n in classifier_names(model)]


def attach_head(
    model: nn.Module,
    kind: str,
    num_outputs: int,
    *,
    hidden: int = 512,
    dropout: float | tuple[float, float] = 0.25,
    init: str = "default",
) -> nn.Module:
    """Give `model` a head of `kind` ("linear" keeps its own) in place, and return it; a new mlp
    head's linear layers are initialised with `init` (see `init_linear`)."""
    if kind not in HEADS:
        raise ModelError(f"unknown head {kind!r}; choose from {', '.join(HEADS)}")
    if kind == "linear":
        return model
    names = classifier_names(model)
    if len(names) != 1:
        raise ModelError(
            f"{type(model).__name__} has {len(names)} classifiers ({', '.join(names)}); "
            "--head mlp needs a model with one. Use --head linear."
        )
    name = names[0]
    old = model.get_submodule(name)
    if not isinstance(old, nn.Linear):
        raise ModelError(
            f"--head mlp replaces a linear classifier, but {type(model).__name__}.{name} is a "
            f"{type(old).__name__}. Use --head linear with this model."
        )
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, leaf, MLPHead(old.in_features, num_outputs, hidden=hidden, dropout=dropout))
    init_head(model, init, [name])
    return model


def reset_new_classifier(
    model: nn.Module, keys_not_loaded: list[str], std: float = 0.01, init: str = "default"
) -> list[str]:
    """Re-initialise the linear classifier(s) that pretrained weights did not fill.

    Networks initialise their classifier for their original 1000 classes: timm's EfficientNets draw
    it from U(+-1/sqrt(num_classes)), which for a handful of classes gives logits of +-10 on
    pretrained features, a first loss several times chance, and a head that a small data set's few
    steps cannot bring back. A new head starts from N(0, std) weights and zero bias instead, the
    usual fine-tuning start (`init` "xavier" or "kaiming": that initialisation instead). Returns
    the names of the layers reset.
    """
    names = [
        n
        for n in classifier_names(model)
        if any(k == n or k.startswith(f"{n}.") for k in keys_not_loaded)
    ]
    reset = []
    for name in names:
        layer = model.get_submodule(name)
        if isinstance(layer, nn.Linear):
            if init == "default":
                nn.init.normal_(layer.weight, std=std)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            else:
                init_linear(layer, init)
            reset.append(name)
    return reset
