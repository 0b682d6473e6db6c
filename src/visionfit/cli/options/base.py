"""How an option is declared and how a command is built from named option groups.

An option that sets a config value is built by `config_option(KEY, ...)`: its help text is the
pydantic field's description and its shown default the field's default (visionfit/config.py), and
it carries KEY, so `configure.typed_overrides` knows where a typed value goes. The Python default
of such a parameter is always None: what was not typed comes from `--config` or the config model,
never from a second copy of the default here.

A `Group` is a named set of such options (parameter name -> `Annotated` alias). `compose` builds a
command's signature from the parameters its function declares itself, then each group's: every
command that trains lists the same groups, so it takes the same options. The function receives
only the parameters it declares; the groups' values reach the config through `ctx`
(cli/configure.py reads each parameter's config key from the composed signature).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from typer.models import OptionInfo

from visionfit.config import RunConfig

DATA, MODEL, AUG, TRAINING, OUTPUT = "Data", "Model", "Augmentation", "Training", "Output"
SEGMENT, LABELS, CV, TRANSFER, TRACKING = (
    "Segmentation",
    "Labels and imbalance",
    "Cross-validation",
    "Transfer learning",
    "Tracking",
)


def config_field(key: str, model: type[BaseModel] = RunConfig) -> tuple[str, object]:
    """(description, default) of a dotted config key, e.g. 'train.epochs'."""
    *parents, leaf = key.split(".")
    node: BaseModel = model()
    for part in parents:
        node = getattr(node, part)
    field = type(node).model_fields[leaf]
    if not field.description:
        raise KeyError(f"config field {key} needs a description: it is an option's help text")
    return field.description, getattr(node, leaf)


def _shown(default: object, decls: tuple[str, ...]) -> str | None:
    """The default as --help shows it, or None to show none."""
    if default is None or (default is False and "/" not in decls[0]):
        return None
    if isinstance(default, bool):  # --x/--no-x: name the side that is the default
        on, off = decls[0].split("/")
        return (on if default else off).lstrip("-")
    return str(default)


def config_option(
    key: str,
    *decls: str,
    panel: str | None = None,
    model: type[BaseModel] = RunConfig,
) -> OptionInfo:
    """A typer option for config KEY, with the field's description and default as its help."""
    help_text, default = config_field(key, model)
    # The parameter's own default is None (= not typed), so the config's default is shown as a
    # string, which typer puts in parentheses: [default: (10)].
    shown = _shown(default, decls)
    info = typer.Option(*decls, help=help_text, show_default=shown or False, rich_help_panel=panel)
    return keyed(key, info, model)


def keyed(key: str, info, model: type[BaseModel] = RunConfig):
    """A typer option or argument whose typed value goes to config KEY (of MODEL)."""
    info.config_key, info.config_model = key, model
    return info


def info_of(alias) -> object | None:
    """The typer OptionInfo / ArgumentInfo inside an `Annotated` alias."""
    return next((m for m in getattr(alias, "__metadata__", ()) if hasattr(m, "param_decls")), None)


def flags_of(alias) -> list[str]:
    """The spellings of an option alias: ['--pretrained', '--no-pretrained']."""
    info = info_of(alias)
    if not isinstance(info, OptionInfo):
        return []
    decls = [info.default, *(info.param_decls or ())]  # Annotated style: the first decl is .default
    return [f for d in decls if isinstance(d, str) for f in d.split("/") if f.startswith("-")]


def with_shown_default(alias, value: object):
    """ALIAS showing VALUE as its default in --help (a command's starting config differs)."""
    info = copy(info_of(alias))
    info.show_default = _shown(value, tuple(flags_of(alias)[:1] or ["-"])) or False
    return Annotated[alias.__origin__, info]


@dataclass(frozen=True)
class Group:
    """Named options that commands share: parameter name -> `Annotated` option alias."""

    name: str
    options: Mapping[str, object]

    def without(self, *names: str) -> Group:
        """This group less some options (where a command cannot honour them)."""
        unknown = set(names) - set(self.options)
        if unknown:
            raise KeyError(f"group {self.name} has no option {sorted(unknown)}")
        kept = {k: v for k, v in self.options.items() if k not in names}
        return Group(self.name, kept)


def group(title: str, /, **options) -> Group:
    """A Group from parameter name = alias pairs, in the order --help lists them."""
    return Group(title, options)


def compose(
    fn: Callable, groups: Iterable[Group], defaults: Mapping[str, object] | None = None
) -> Callable:
    """FN with the options of GROUPS appended to its signature (its own parameters win a name).

    DEFAULTS: config key -> the value this command starts from (shown in --help instead of the
    config model's). Two parameters spelling one flag are a programming error.
    """
    signature = inspect.signature(fn, eval_str=True)
    own = list(signature.parameters.values())
    params = {p.name: p for p in own}
    for g in groups:
        for name, alias in g.options.items():
            if name in params:
                continue
            key = getattr(info_of(alias), "config_key", None)
            if defaults and key in defaults:
                alias = with_shown_default(alias, defaults[key])
            kind = inspect.Parameter.KEYWORD_ONLY
            params[name] = inspect.Parameter(name, kind, default=None, annotation=alias)
    if len(params) == len(own):
        return fn
    ordered = _in_panels(own, list(params.values())[len(own) :])
    _no_flag_twice(fn.__name__, ordered)
    own_names = [p.name for p in own]

    @functools.wraps(fn)
    def command(**kwargs):
        return fn(**{name: kwargs[name] for name in own_names if name in kwargs})

    command.__signature__ = signature.replace(parameters=ordered)
    command.__annotations__ = {p.name: p.annotation for p in ordered if p.annotation != p.empty}
    return command


def _panel(param: inspect.Parameter) -> str | None:
    return getattr(info_of(param.annotation), "rich_help_panel", None)


def _in_panels(own: list, added: list) -> list:
    """The command's own parameters first, except one in a group's panel (train's --resume in
    Output): it follows that panel's last option, so --help shows the panel once, in place."""
    panels = {_panel(a) for a in added} - {None}
    out = [p for p in own if _panel(p) not in panels] + added
    for p in own:
        if p not in out:
            last = max(i for i, q in enumerate(out) if _panel(q) == _panel(p))
            out.insert(last + 1, p)
    # typer passes every value by name: keyword-only parameters may come in any order
    return [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in out]


def _no_flag_twice(command: str, params: Iterable[inspect.Parameter]) -> None:
    seen: dict[str, str] = {}
    for p in params:
        for flag in flags_of(p.annotation):
            if flag in seen:
                raise TypeError(f"{command}: {flag} is declared by {seen[flag]} and {p.name}")
            seen[flag] = p.name


# ---- where the config comes from -----------------------------------------------------------------
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="A config.yaml (e.g. a run's) to start from; typed options override it."
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Any dotted config key, e.g. --set train.opt=sgd (a YAML value; repeatable; applied "
        "last).",
    ),
]
CONFIG = group("config", config=ConfigFile, sets=Sets)


def _progress_seconds(value: float | None) -> float | None:
    from visionfit.progress import set_interval

    return set_interval(value)


# Not a config value: how often long work reports off a terminal (visionfit/progress.py); the
# callback sets it for this process and the processes it starts, so no command handles it.
ProgressSeconds = Annotated[
    float | None,
    typer.Option(
        "--progress",
        metavar="SECONDS",
        min=0,
        callback=_progress_seconds,
        help="With the output going to a log (no terminal): a progress line (done, rate, time "
        "left) at least every SECONDS while scanning, caching, training and predicting; 0: on "
        "every update. A terminal shows bars instead.",
        show_default="30",
        rich_help_panel=OUTPUT,
    ),
]
PROGRESS = group("progress", progress_seconds=ProgressSeconds)
