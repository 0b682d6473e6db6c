"""Reading values: a YAML config file, name lists, durations, pydantic's first error."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from visionfit.errors import VisionfitError
from visionfit.fileio import UnreadableFileError, read_regular_text
from visionfit.text import clip

MAX_YAML_BYTES = 4 << 20  # a config or a search space is a few KiB
MAX_YAML_VALUES = 100_000  # values in a document, every alias counted as the copy it stands for


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses a document whose aliases expand to more than MAX_YAML_VALUES
    values (a "billion laughs" bomb is 600 bytes), before anything is built from it."""

    def construct_document(self, node):
        _check_expanded_size(node)
        return super().construct_document(node)


def _check_expanded_size(root: yaml.Node) -> None:
    sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a recursive alias counts once and ends the walk
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        if n > MAX_YAML_VALUES:
            raise yaml.YAMLError(
                f"its aliases (*name) expand to more than {MAX_YAML_VALUES} values: write the "
                "values out instead"
            )
        sizes[id(node)] = n
        return n

    size(root)


def load_yaml_text(text: str, *, origin: str = "YAML text"):
    """Parse YAML with the bounded safe loader; one-line VisionfitError (clipped) when bad."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        why = clip(" ".join(str(e).split()), 200)
        raise VisionfitError(f"{origin} is not valid YAML: {why}") from None
    except RecursionError:
        raise VisionfitError(f"{origin} is not valid YAML: nested too deeply") from None


def read_yaml(
    path: str | Path,
    *,
    what: str = "config file",
    missing: str = "config file not found",
    not_mapping: str = "is not a mapping of config keys",
) -> dict:
    """A YAML file's mapping, or a one-line error: `{missing}: PATH` when there is no such file,
    `{what} PATH is not valid YAML: ...`, `{what} PATH {not_mapping}` (a config file by default;
    the search space of tune says its own words). Only a regular file of at most MAX_YAML_BYTES
    is read, and aliases may not expand past MAX_YAML_VALUES values (the one YAML reader)."""
    p = Path(path)
    try:
        text = read_regular_text(p, max_bytes=MAX_YAML_BYTES)
    except UnreadableFileError as e:
        raise VisionfitError(
            f"{missing}: {p}" if e.missing else f"cannot read {what} {e}"
        ) from None
    raw = load_yaml_text(text, origin=f"{what} {p}") or {}
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
    return f"{loc}: {clip(err['msg'], 200)} (got {clip(repr(err.get('input')))})"
