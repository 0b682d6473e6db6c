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


def make_imbalanced_binary_dataset(
    root: str | Path,
    n_negative: int = 80,
    n_positive: int = 20,
    *,
    classes: tuple[str, str] = ("negative", "positive"),
    shapes: tuple[str, str] = ("square", "circle"),
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Write root/<negative>/*.png and root/<positive>/*.png with the given counts (e.g. one
    positive in five); each class draws its own shape. Returns root."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for name, shape, n in zip(classes, shapes, (n_negative, n_positive), strict=True):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            draw_shape(shape, size, rng).save(root / name / f"{name}_{i:04d}.png")
    return root


def make_multilabel_dataset(
    root: str | Path,
    n: int = 150,
    *,
    labels: tuple[str, ...] = SHAPES,
    size: int = 48,
    seed: int = 0,
) -> Path:
    """Images with any subset of the shapes in `labels` (each present with probability 1/2,
    drawn small in its own quarter of the image), and root/labels.csv with columns image, tags
    (the shapes, space-separated) and one 0/1 column per label. Returns the CSV's path.

    Each label also has its own dominant colour channel (red, green, blue in turn), so that
    a tiny network learns the labels in a few epochs."""
    import pandas as pd

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    cell = size // 2
    for i in range(n):
        present = [lab for lab in labels if rng.random() < 0.5]
        canvas = Image.fromarray(rng.integers(0, 80, (size, size, 3), dtype=np.uint8), "RGB")
        slots = rng.permutation(4)[: len(present)]
        for lab, slot in zip(present, slots, strict=True):
            k = labels.index(lab)
            tile = np.asarray(
                draw_shape(SHAPES[k % len(SHAPES)] if lab not in SHAPES else lab, cell, rng)
            ).copy()
            shape_px = tile.max(axis=2) >= 130  # the shape's colour is >= 130 on every channel
            tint = np.full(3, 60, np.uint8)
            tint[k % 3] = 255
            tile[shape_px] = (tile[shape_px] * 0.3 + tint * 0.7).astype(np.uint8)
            canvas.paste(Image.fromarray(tile), ((slot % 2) * cell, (slot // 2) * cell))
        name = f"images/img_{i:04d}.png"
        canvas.save(root / name)
        rows.append(
            {
                "image": name,
                "tags": " ".join(present),
                **{lab: int(lab in present) for lab in labels},
            }
        )
    csv = root / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv
