"""The `visionfit` command line: a thin Typer app that builds configs and calls the engine.

Nothing heavy is imported here: torch, Lightning, timm, scikit-learn and the engine are imported
inside the commands that use them, so `visionfit --help` starts in well under a second.
"""

from __future__ import annotations

import sys

from rich.markup import escape

from visionfit.cli import (  # noqa: F401 (commands)
    auto,
    data,
    evaluate,
    explore,
    predict,
    results,
    train,
)
from visionfit.cli.app import app
from visionfit.cli.render import err_console
from visionfit.errors import VisionfitError, os_error_message

# --help lists the commands in this order (registration order follows the module names).
COMMAND_ORDER = [
    "train", "predict", "evaluate", "check", "baseline", "runs", "report", "audit", "export",
    "serve",
    "auto", "models", "weights", "demo", "lr-find", "tune",
]  # fmt: skip
app.registered_commands.sort(
    key=lambda c: COMMAND_ORDER.index(c.name or c.callback.__name__.replace("_", "-"))
)


def main() -> None:
    try:
        app()
    except VisionfitError as e:
        _fail(str(e))
    except OSError as e:  # no space, read-only, permission: the user's to fix, not a bug
        line = os_error_message(e)
        if line is None:
            raise
        _fail(line)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def _fail(text: str) -> None:
    """One line on stderr and exit code 2: an input mistake, never a traceback."""
    # escape: a path in the message may hold [brackets]; surrogates: non-UTF-8 file names
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    sys.exit(2)


__all__ = ["app", "main"]
