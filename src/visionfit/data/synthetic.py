"""Small generated image datasets for tests, benchmarks and trying the tool without data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")


def draw_shape(shape: str, size: int, rng: np.random.Generator, mode: str = "RGB") -> Image.Image:
    """One shape of random colour, position and scale on a noisy background."""
    bg = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
    img = Image.fromarray(bg, "RGB")
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.38) * size
    cx, cy = rng.uniform(r, size - r, size=2)
    colour = tuple(int(c) for c in rng.integers(130, 256, size=3))
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")
    return img.convert(mode)


def make_shapes_dataset(
    root: str | Path,
    n_per_class: int = 60,
    *,
    classes: tuple[str, ...] = SHAPES,
    size: int = 32,
    seed: int = 0,
    mode: str = "RGB",
    ext: str = ".png",
) -> Path:
    """Write root/<class>/<class>_<i>.png and return root.

    A class named after a shape draws that shape; other names take the shapes in turn.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        shape = name if name in SHAPES else SHAPES[k % len(SHAPES)]
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            draw_shape(shape, size, rng, mode).save(root / name / f"{name}_{i:04d}{ext}")
    return root


BROKEN_KINDS = (
    "zero bytes",
    "truncated png",
    "truncated jpeg",
    "text as png",
    "random bytes",
    "unsupported format",
)
"""The kinds of unusable files `write_broken_files` writes, in turn."""

# The reason `visionfit check` gives for each kind (data.io.ImageDecodeError reasons).
BROKEN_REASONS = {
    "zero bytes": "zero bytes",
    "truncated png": "truncated",
    "truncated jpeg": "truncated",
    "text as png": "not an image",
    "random bytes": "not an image",
    "unsupported format": "unsupported format",
}


def write_broken_files(
    folder: str | Path, n: int, *, seed: int = 0, size: int = 24
) -> dict[Path, str]:
    """Write `n` unusable image files into `folder`, cycling through BROKEN_KINDS.

    Returns {path: kind}. Used to test that such files are named and skipped, never a crash.
    """
    import io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out: dict[Path, str] = {}
    for i in range(n):
        kind = BROKEN_KINDS[i % len(BROKEN_KINDS)]
        img = draw_shape(SHAPES[i % len(SHAPES)], size, rng)
        buf = io.BytesIO()
        if kind == "zero bytes":
            path, data = folder / f"broken_{i:04d}.png", b""
        elif kind == "truncated png":
            img.save(buf, "PNG")
            data = buf.getvalue()
            path, data = folder / f"broken_{i:04d}.png", data[: len(data) // 2]
        elif kind == "truncated jpeg":
            img.save(buf, "JPEG", quality=90)
            data = buf.getvalue()
            path, data = folder / f"broken_{i:04d}.jpg", data[: len(data) // 2]
        elif kind == "text as png":
            path, data = folder / f"broken_{i:04d}.png", b"this is a text file, not a PNG\n" * 3
        elif kind == "random bytes":
            path, data = folder / f"broken_{i:04d}.jpg", rng.bytes(int(rng.integers(64, 4096)))
        else:  # an image in a format Pillow reads but visionfit does not decode
            img.save(buf, "PPM")
            path, data = folder / f"broken_{i:04d}.png", buf.getvalue()
        path.write_bytes(data)
        out[path] = kind
    return out
