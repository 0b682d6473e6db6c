"""The search space of `visionfit tune`: which config keys a study samples, and in what ranges.

A space is a YAML file or dict of `key: spec` (see `load_space`); without one, `default_space`
samples learning rate, weight decay, augmentation preset and batch size around the base config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionfit.config import RunConfig, read_yaml
from visionfit.errors import VisionfitError

# Short names a search space may use for the common config keys.
ALIASES = {
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "model": "model.name",
    "img_size": "augment.img_size",
    "augment": "augment.preset",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "opt": "train.opt",
    "label_smoothing": "train.label_smoothing",
    "drop_rate": "model.drop_rate",
    "head": "finetune.head",
    "finetune": "finetune.finetune_epochs",
    "backbone_lr_mult": "finetune.backbone_lr_mult",
    "sched": "train.sched",
    "step_size": "train.step_size",
    "gamma": "train.gamma",
    "min_lr": "train.min_lr",
    "momentum": "train.momentum",
    "head_hidden": "finetune.head_hidden",
    "head_dropout": "finetune.head_dropout",
}


@dataclass
class Param:
    """One dimension of the search space."""

    key: str  # dotted config key
    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list | None = None

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, self.choices)
        if self.kind == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)


def default_space(base: RunConfig) -> list[Param]:
    """lr (log, a decade either side of the base lr), weight decay (log), augmentation, batch."""
    lr = base.train.lr
    return [
        Param("train.lr", "float", lr / 10, min(lr * 10, 1.0), log=True),
        Param("train.weight_decay", "float", 1e-6, 1e-2, log=True),
        Param("augment.preset", "categorical", choices=["none", "light", "medium"]),
        Param("train.batch_size", "categorical", choices=[16, 32, 64]),
    ]


def load_space(space: str | Path | dict | None, base: RunConfig) -> list[Param]:
    """Parse a search space: a YAML file or dict of `key: spec` (None: `default_space`).

    A spec is a list (categorical choices) or a mapping with `low`, `high` and optionally `log`,
    `step` and `type` (int or float; ints when `low` and `high` are both integers). Keys are dotted
    config keys (`train.lr`) or the short names in `ALIASES` (`lr`, `model`, `img_size`, ...).

        lr: {low: 1.0e-4, high: 1.0e-2, log: true}
        model: [resnet10t, efficientnet_lite0]
        img_size: [64, 96]
        epochs: {low: 3, high: 10}
    """
    if space is None:
        return default_space(base)
    origin = "search space"
    if not isinstance(space, dict):
        origin = str(Path(space))
        space = read_yaml(
            space,
            what="search space",
            missing="search space file not found",
            not_mapping="must be a mapping of key: spec",
        )
    params = []
    for raw_key, spec in space.items():
        key = ALIASES.get(str(raw_key), str(raw_key))
        params.append(_parse_param(key, spec, origin))
    if not params:
        raise VisionfitError(f"{origin} is empty: name at least one parameter, e.g. lr")
    # every key must exist in the config, and every choice and both ends of a range validate
    for p in params:
        values = p.choices if p.choices is not None else [p.low, p.high]
        for value in values:
            value = int(value) if p.kind == "int" else value
            try:
                base.with_overrides({p.key: value})
            except VisionfitError as e:
                raise VisionfitError(f"{origin}: {e}. Short names: {', '.join(ALIASES)}") from None
            if p.key == "augment.preset":  # a pipeline file is read now, not in a trial
                from visionfit.data.augment import read_augment

                try:
                    read_augment(str(value))
                except VisionfitError as e:
                    raise VisionfitError(f"{origin}: augment: {e}") from None
    return params


def _number(value: Any, key: str, what: str, origin: str) -> float:
    try:  # YAML 1.1 reads 1e-4 (no dot) as a string
        return float(value)
    except (TypeError, ValueError):
        raise VisionfitError(f"{origin}: {key}.{what} must be a number, got {value!r}") from None


def _parse_param(key: str, spec: Any, origin: str) -> Param:
    if isinstance(spec, list):
        if not spec:
            raise VisionfitError(f"{origin}: {key} has an empty list of choices")
        return Param(key, "categorical", choices=list(spec))
    if not isinstance(spec, dict) or "low" not in spec or "high" not in spec:
        raise VisionfitError(
            f"{origin}: {key} must be a list of choices or a mapping with low and high "
            f"(and optionally log, step, type), got {spec!r}"
        )
    unknown = set(spec) - {"low", "high", "log", "step", "type"}
    if unknown:
        raise VisionfitError(f"{origin}: {key} has unknown fields {sorted(unknown)}")
    low, high = _number(spec["low"], key, "low", origin), _number(spec["high"], key, "high", origin)
    kind = spec.get("type") or (
        "int" if all(isinstance(spec[k], int) for k in ("low", "high")) else "float"
    )
    if kind not in ("int", "float"):
        raise VisionfitError(f"{origin}: {key}.type must be int or float, got {kind!r}")
    log = bool(spec.get("log", False))
    if not low < high:
        raise VisionfitError(f"{origin}: {key} needs low < high, got {low:g} and {high:g}")
    if log and low <= 0:
        raise VisionfitError(f"{origin}: {key} is on a log scale, so low must be > 0")
    step = spec.get("step")
    step = _number(step, key, "step", origin) if step is not None else None
    return Param(key, kind, low, high, log=log, step=step)
