"""The one way options become a config: `--config FILE`, then the options typed on the command
line, then `--set key=value` pairs. Value conversions (0 = off, 'a,b' lists, colour maps) are the
config's own validators, so all three spellings behave the same."""

from __future__ import annotations

import functools
import typing
from pathlib import Path

import typer

from visionfit.errors import VisionfitError

# Keys that BaselineConfig spells without the RunConfig section; data.*, cv.*, name and runs_dir
# are spelled alike.
BASELINE_KEYS = {
    "train.seed": "seed",
    "train.class_weights": "class_weights",
    "train.threshold": "threshold",
}


@functools.cache
def option_keys(callback) -> dict[str, str]:
    """Parameter name -> config key, read from the Annotated aliases in a command's signature."""
    hints = typing.get_type_hints(callback, include_extras=True)
    keys = {}
    for name, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            key = getattr(meta, "config_key", None)
            if key:
                keys[name] = key
    return keys


def was_typed(ctx: typer.Context, name: str) -> bool:
    # Compare by name: typer may ship its own copy of click's ParameterSource enum.
    return getattr(ctx.get_parameter_source(name), "name", "") in ("COMMANDLINE", "ENVIRONMENT")


def typed_overrides(ctx: typer.Context) -> dict[str, object]:
    """Config key -> value for every config option the user actually typed."""
    out: dict[str, object] = {}
    for name, key in option_keys(_callback(ctx)).items():
        if name in ctx.params and was_typed(ctx, name):
            value = ctx.params[name]
            out[key] = str(value) if isinstance(value, Path) else value
    return out


def typed_flags(ctx: typer.Context, *, but: str) -> list[str]:
    """The options typed on the command line, as the user spelled them (DATA for the argument)."""
    flags = []
    for param in ctx.command.params:
        if param.name != but and param.name in ctx.params and was_typed(ctx, param.name):
            is_argument = param.param_type_name == "argument"
            flags.append(param.name.upper() if is_argument else param.opts[0])
    return flags


def parse_sets(sets: list[str] | None) -> dict[str, object]:
    """--set KEY=VALUE pairs (dotted config keys, YAML values) as config overrides."""
    import yaml

    out: dict[str, object] = {}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise VisionfitError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.opt=sgd")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def run_config(ctx: typer.Context, config_file: Path | None, sets: list[str] | None = None):
    """A RunConfig from --config, the typed options, then --set; it must name some data."""
    from visionfit.config import RunConfig

    base = RunConfig.from_yaml(config_file) if config_file else RunConfig()
    cfg = base.with_overrides({**typed_overrides(ctx), **parse_sets(sets)})
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError(
            f"no data given: visionfit {ctx.info_name} DATA, or --csv train.csv --root DIR"
        )
    return cfg


def baseline_config(ctx: typer.Context, sets: list[str] | None = None):
    """A BaselineConfig from its defaults, the typed options, then --set."""
    from visionfit.config import BaselineConfig

    overrides = {BASELINE_KEYS.get(k, k): v for k, v in typed_overrides(ctx).items()}
    if "cv.folds_file" in overrides and "cv.folds" not in overrides:
        overrides["cv.folds"] = 0  # the folds file says how many
    overrides.update(parse_sets(sets))
    if not overrides.get("data.path") and not overrides.get("data.csv"):
        raise VisionfitError(
            "no data given: visionfit baseline DATA, or --csv train.csv --root DIR"
        )
    return BaselineConfig.from_dict(_nest(overrides), origin="options")


def _nest(flat: dict[str, object]) -> dict:
    """{'data.csv': x} -> {'data': {'csv': x}}; BaselineConfig validates unknown keys."""
    out: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _callback(ctx: typer.Context):
    # typer wraps the command function; the wrapper keeps it as __wrapped__.
    callback = ctx.command.callback
    return getattr(callback, "__wrapped__", callback)
