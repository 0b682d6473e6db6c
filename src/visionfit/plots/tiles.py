"""Image grids: decoded images as tiles with a caption each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionfit.data.io import ImageDecodeError, decode_image
from visionfit.plots import figure as _plot


def load_image(path, in_chans: int = 3, max_side: int | None = 256) -> np.ndarray | None:
    """The image as uint8 RGB for display (shrunk to `max_side` for speed), or None when it
    cannot be decoded."""
    try:
        arr = _plot.to_rgb(decode_image(str(path), in_chans=in_chans))
    except ImageDecodeError:
        return None
    if max_side and max(arr.shape[:2]) > max_side:
        from PIL import Image

        im = Image.fromarray(arr)
        im.thumbnail((max_side, max_side))
        arr = np.asarray(im)
    return arr


def grid(
    tiles: list[list[tuple]],
    out_dir: Path,
    name: str,
    *,
    tile: float = 1.7,
    row_labels: list[str] | None = None,
    title: str | None = None,
    caption_lines: int = 2,
) -> Path | None:
    """Rows of (image, caption) or (image, caption, colour) tiles; a None image is drawn as
    'unreadable', a string as that text."""
    rows = [r for r in tiles if r]
    if not rows:
        return None
    n_cols = max(len(r) for r in rows)
    height = tile + 0.17 * caption_lines
    fig = _plot.figure(
        tile * n_cols + (1.2 if row_labels else 0), height * len(rows) + 0.4, constrained=False
    )
    axes = np.atleast_2d(fig.subplots(len(rows), n_cols, squeeze=False))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            _plot.hide_axes(ax)
            if j >= len(row):
                ax.set_visible(False)
                continue
            img, caption, *colour = row[j]  # an optional third item: the caption's colour
            if img is None or isinstance(img, str):
                text = img or "unreadable"
                ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True)
            else:
                ax.imshow(
                    img, interpolation="nearest" if max(img.shape[:2]) < 96 else "antialiased"
                )
            ax.set_title(caption, fontsize=7.5, pad=2, **({"color": colour[0]} if colour else {}))
        if row_labels:
            axes[i, 0].set_ylabel(
                _plot.short(row_labels[i], 14),
                fontsize=9,
                rotation=0,
                ha="right",
                va="center",
                labelpad=8,
            )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()) if title else None)
    if title:
        fig.suptitle(title, fontsize=10)
    return _plot.save(fig, out_dir, name)
