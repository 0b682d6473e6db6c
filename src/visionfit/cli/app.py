"""The Typer application and the decorator that registers its commands."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="From a folder of images to a validated model, its report and predictions.",
)


def unwrap(doc: str | None) -> str:
    """A docstring as help text: each paragraph on one line, so Rich wraps it to the terminal."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def command(
    name: str | None = None,
    *,
    groups: Iterable = (),
    defaults: Mapping[str, object] | None = None,
) -> Callable:
    """@app.command with the docstring unwrapped (docstrings break lines at 100 columns), its
    signature composed from the function's own parameters and the option GROUPS
    (cli/options/base.py `compose`); DEFAULTS: the config values the command starts from."""

    def register(fn: Callable) -> Callable:
        from visionfit.cli.options import compose

        return app.command(name, help=unwrap(fn.__doc__))(compose(fn, groups, defaults))

    return register
