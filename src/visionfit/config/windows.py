"""DICOM display windows (`--window C,W` or `C,W;C,W`): parsed once, here, for the config's
validator and the DICOM decoder (data/dicom.py)."""

from __future__ import annotations

import math

Window = tuple[float, float]  # (centre, width), in the rescaled values (e.g. Hounsfield units)


def parse_windows(text: str) -> tuple[Window, ...]:
    """`"40,80;80,200"` -> ((40.0, 80.0), (80.0, 200.0)); ValueError (one line) when malformed.

    >>> parse_windows("40,80")
    ((40.0, 80.0),)
    """
    out = []
    for part in str(text).split(";"):
        fields = [f.strip() for f in part.split(",")]
        if len(fields) != 2 or not all(fields):
            raise ValueError(
                f"window {part.strip()!r} is not CENTRE,WIDTH: give e.g. --window 40,80 "
                "(several windows, one channel each: 40,80;80,200;600,2800)"
            )
        try:
            centre, width = float(fields[0]), float(fields[1])
        except ValueError:
            raise ValueError(f"window {part.strip()!r}: centre and width must be numbers") from None
        if not (math.isfinite(centre) and math.isfinite(width)) or width < 1:
            raise ValueError(f"window {part.strip()!r}: the width must be a finite number >= 1")
        out.append((centre, width))
    return tuple(out)
