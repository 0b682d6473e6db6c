"""Reading values: a YAML config file, name lists, durations, pydantic's first error."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from visionfit.errors import VisionfitError


def read_yaml(
    path: str | Path,
    *,
    what: str = "config file",
    missing: str = "config file not found",
    not_mapping: str = "is not a mapping of config keys",
) -> dict:
    """A YAML file's mapping, or a one-line error: `{missing}: PATH` when there is no such file,
    `{what} PATH is not valid YAML: ...`, `{what} PATH {not_mapping}` (a config file by default;
    the search space of tune says its own words)."""
    p = Path(path)
    if not p.is_file():
        raise VisionfitError(f"{missing}: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise VisionfitError(f"{what} {p} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise VisionfitError(f"{what} {p} {not_mapping}")
    return raw


def split_names(value: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'] (how the command line lists names)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_duration(text: str | float | int) -> float:
    """Seconds in "90s", "30m", "2h", "1h30m" or a plain number of seconds.

    >>> parse_duration("1h30m")
    5400.0
    """
    import re

    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        raw = str(text).strip().lower().replace(" ", "")
        parts = re.fullmatch(
            r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", raw
        )
        if not raw or parts is None or not any(parts.groups()):
            raise VisionfitError(
                f"cannot read the duration {text!r}: use e.g. 90s, 30m, 2h or 1h30m"
            )
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if seconds <= 0:
        raise VisionfitError(f"the duration must be positive, got {text!r}")
    return seconds


def first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if not loc:  # raised by a whole config's own check: the message names the key
        return err["msg"]
    return f"{loc}: {err['msg']} (got {err.get('input')!r})"
