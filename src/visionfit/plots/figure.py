"""Shared plotting helpers: headless matplotlib, atomic PNG writes, image tiles."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# A machine without the STIX / Computer Modern fonts makes matplotlib log one "findfont" line per
# missing family into the run's output; it falls back to DejaVu Sans, which is all a plot needs.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from visionfit.plots.palette import PALETTE  # noqa: E402

DPI = 100


def figure(width: float, height: float, *, constrained: bool = True):
    """A figure; constrained layout keeps colour bars and labels from overlapping."""
    return plt.figure(
        figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None
    )


def save(fig, out_dir: Path, name: str) -> Path:
    """Write the figure as out_dir/name (atomically: temp file + rename) and close it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    out = out_dir / name
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def short(text: str, n: int = 18) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def to_rgb(arr: np.ndarray) -> np.ndarray:
    """uint8 HxW / HxWx1 / HxWx3 -> HxWx3 for display. High-bit-depth values (float32) are shown
    by their own range; other channel counts as the mean of their channels (display only)."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] not in (1, 3) or arr.dtype != np.uint8:
        from visionfit.data.highbit import display_rgb

        return display_rgb(arr)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr[..., :3].astype(np.uint8)


def denormalise(x, mean, std) -> np.ndarray:
    """A normalised CxHxW tensor back to a uint8 HxWx3 image."""
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, np.float32)
    if a.ndim == 2:
        a = a[None]
    c = a.shape[0]
    m = np.asarray(mean, np.float32)[:c, None, None]
    s = np.asarray(std, np.float32)[:c, None, None]
    img = np.clip((a * s + m) * 255.0, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return to_rgb(img)


def tint(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with each foreground class of a class-index mask tinted in its colour."""
    img = to_rgb(image).astype(np.float32)
    m = np.asarray(mask)
    if m.shape != img.shape[:2]:
        from PIL import Image

        m = np.asarray(Image.fromarray(m.astype(np.uint8)).resize(img.shape[1::-1], 0))
    colours = PALETTE[np.clip(m, 0, len(PALETTE) - 1).astype(int)].astype(np.float32)
    on = (m > 0)[..., None]
    return np.where(on, (1 - alpha) * img + alpha * colours, img).astype(np.uint8)


def hide_axes(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
