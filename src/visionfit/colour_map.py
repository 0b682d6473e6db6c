"""Colour maps of RGB masks ('R,G,B=k;...', '#rrggbb=k', JSON text or a JSON file), parsed to
{"#rrggbb": class}. Plain parsing, no image library: the config's validator and data/masks.py
share it (the config sits below data/ and may not import it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from visionfit.errors import DataError
from visionfit.fileio import UnreadableFileError, read_regular_text

_TRIPLE = re.compile(r"^\s*\(?\s*(\d+)\s*[, ]\s*(\d+)\s*[, ]\s*(\d+)\s*\)?\s*$")


def _parse_colour(text: str) -> tuple[int, int, int]:
    text = str(text).strip()
    if text.startswith("#") and len(text) == 7:
        try:
            return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
        except ValueError:
            pass
    m = _TRIPLE.match(text)
    if m:
        rgb = tuple(int(g) for g in m.groups())
        if all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
    raise DataError(f"cannot read colour {text!r}: use R,G,B (0-255) or #rrggbb")


def parse_colour_map(value: str | Mapping | None) -> dict[str, int] | None:
    """A colour map as {"#rrggbb": class}; from a JSON file, a JSON/dict, or 'R,G,B=k;...'.

    JSON may map colours to classes ({"#ff0000": 1, "0,0,0": 0}) or be a list of colours in class
    order ([[0,0,0], [255,0,0]]).
    """
    if value is None or value == "" or value == {}:
        return None
    raw = value
    if isinstance(value, str):
        text = value.strip()
        p = Path(text)
        if text.endswith(".json") or (p.suffix and p.is_file()):
            try:  # a colour map is a few lines: a FIFO or a huge file is refused, not read
                text = read_regular_text(p, max_bytes=1 << 20)
            except UnreadableFileError as e:
                raise DataError(
                    f"colour map file not found: {p}" if e.missing else f"colour map {e}"
                ) from None
        if text.startswith(("{", "[")):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataError(f"colour map is not valid JSON: {e}") from None
        else:
            raw = {}
            for item in filter(None, (s.strip() for s in text.split(";"))):
                colour, sep, cls = item.rpartition("=")
                if not sep:
                    raise DataError(f"colour map entry {item!r} is not COLOUR=CLASS")
                raw[colour] = cls
    if isinstance(raw, list):
        raw = {f"{c[0]},{c[1]},{c[2]}" if isinstance(c, list) else c: i for i, c in enumerate(raw)}
    if not isinstance(raw, Mapping):
        raise DataError("colour map must map colours to class indices")
    out: dict[str, int] = {}
    for colour, cls in raw.items():
        r, g, b = _parse_colour(colour)
        try:
            k = int(cls)
        except (TypeError, ValueError):
            raise DataError(f"colour map: class {cls!r} for {colour!r} is not an integer") from None
        if k < 0 or k > 255:
            raise DataError(f"colour map: class {k} for {colour!r} is outside 0..255")
        key = f"#{r:02x}{g:02x}{b:02x}"
        if key in out and out[key] != k:
            raise DataError(f"colour map gives {colour!r} two classes ({out[key]} and {k})")
        out[key] = k
    return out
