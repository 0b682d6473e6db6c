"""Limits every layer shares (the config's defaults and the decoder's), one copy each."""

from __future__ import annotations

# Pillow's own decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS); our cap must stay below it.
PILLOW_MAX_IMAGE_PIXELS = 89_478_485

DEFAULT_MAX_PIXELS: int = 64_000_000
"""Largest accepted width * height; below Pillow's own ``MAX_IMAGE_PIXELS`` (about 89.5M)."""

MAX_IMAGE_FILE_BYTES: int = 2 << 30
"""Largest image file read (2 GiB: a 64M-pixel 16-bit RGBA TIFF stored raw is 512 MiB)."""

MAX_CLASSES: int = 100_000
"""Most classes (outputs) a run may have: far above a real label set, far below filling memory."""
