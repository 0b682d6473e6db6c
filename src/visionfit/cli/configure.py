"""The one way options become a config: `--config FILE`, then the options typed on the command
line, then `--set key=value` pairs. Value conversions (0 = off, 'a,b' lists, colour maps) are the
config's own validators, so all three spellings behave the same."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path

import typer
from pydantic import BaseModel

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
    """Parameter name -> config key, read from the Annotated aliases in a command's signature
    (the composed one: cli/options/base.py `compose`)."""
    keys = {}
    for name, param in inspect.signature(callback, eval_str=True).parameters.items():
        for meta in getattr(param.annotation, "__metadata__", ()):
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
    from visionfit.config import load_yaml_text

    out: dict[str, object] = {}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise VisionfitError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.opt=sgd")
        text = value if value.strip() else None
        out[key.strip()] = load_yaml_text(text, origin=f"--set {key.strip()}") if text else None
    return out


@dataclass(frozen=True)
class Resolved:
    """A command's config and the keys the user set (in --config, typed, or with --set)."""

    cfg: object
    given: set[str]


def resolve(ctx: typer.Context, defaults: dict[str, object] | None = None) -> Resolved:
    """--config (or the config model), the command's DEFAULTS for keys the file does not set,
    the typed options, then --set; it must name some data."""
    from visionfit.config import RunConfig

    config_file = ctx.params.get("config")
    base = RunConfig.from_yaml(config_file) if config_file else RunConfig()
    in_file = set(_keys_set(base)) if config_file else set()
    start = {k: v for k, v in (defaults or {}).items() if k not in in_file}
    user = {**typed_overrides(ctx), **parse_sets(ctx.params.get("sets"))}
    cfg = base.with_overrides({**start, **user})
    _needs_data(ctx, cfg)
    from visionfit.tasks.registry import resolve_auto_task

    return Resolved(resolve_auto_task(cfg), in_file | set(user))


def run_config(ctx: typer.Context, defaults: dict[str, object] | None = None):
    """A RunConfig from --config, the typed options, then --set (see `resolve`)."""
    return resolve(ctx, defaults).cfg


def baseline_config(ctx: typer.Context):
    """A BaselineConfig from --config (a baseline run's config.yaml) or its defaults, the typed
    options, then --set."""
    from visionfit.config import BaselineConfig, read_yaml

    overrides = {BASELINE_KEYS.get(k, k): v for k, v in typed_overrides(ctx).items()}
    if "cv.folds_file" in overrides and "cv.folds" not in overrides:
        overrides["cv.folds"] = 0  # the folds file says how many
    overrides.update(parse_sets(ctx.params.get("sets")))
    config_file = ctx.params.get("config")
    raw = read_yaml(config_file) if config_file else {}
    origin = f"{config_file} with the options" if config_file else "options"
    cfg = BaselineConfig.from_dict(_merge(raw, _nest(overrides)), origin=origin)
    _needs_data(ctx, cfg)
    return cfg


def _needs_data(ctx: typer.Context, cfg) -> None:
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError(
            f"no data given: visionfit {ctx.info_name} DATA, or --csv train.csv --root DIR"
        )


def _keys_set(node, prefix: str = ""):
    """The dotted keys a config file set (pydantic records which fields were given)."""
    for name in node.model_fields_set:
        value = getattr(node, name)
        if isinstance(value, BaseModel):  # a section
            yield from _keys_set(value, f"{prefix}{name}.")
        else:
            yield prefix + name


def _merge(base: dict, over: dict) -> dict:
    """BASE with OVER's leaves written into it (nested dicts merged, not replaced)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


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
