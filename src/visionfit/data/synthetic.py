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
