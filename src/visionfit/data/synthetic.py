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


def _textured_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Low-contrast stripes and blobs plus pixel noise: a background a threshold cannot solve."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.zeros((size, size), np.float32)
    for _ in range(3):
        fx, fy = rng.uniform(1, 6, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        base += np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
    base = (base - base.min()) / max(1e-6, float(np.ptp(base)))
    tint = rng.uniform(0.5, 1.0, size=3)
    img = 40 + 90 * base[:, :, None] * tint[None, None, :]
    img += rng.normal(0, 18, size=(size, size, 3))
    return img


def draw_segmentation_sample(
    size: int, rng: np.random.Generator, *, n_classes: int = 2, empty_prob: float = 0.0
) -> tuple[Image.Image, np.ndarray]:
    """An RGB image of 1-3 shapes on a textured, noisy background and its class-index mask.

    With `n_classes` 2 the mask is 0/1; with more, shape k draws class 1 + k % (n_classes - 1).
    With probability `empty_prob` the image has no shape at all (an empty mask).
    """
    img = _textured_background(size, rng)
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    n_shapes = 0 if rng.random() < empty_prob else int(rng.integers(1, 4))
    layers = []
    for k in range(n_shapes):
        layer = Image.new("L", (size, size), 0)
        d = ImageDraw.Draw(layer)
        r = rng.uniform(0.10, 0.25) * size
        cx, cy = rng.uniform(r, size - r, size=2)
        kind = SHAPES[int(rng.integers(0, len(SHAPES)))]
        box = [cx - r, cy - r, cx + r, cy + r]
        if kind == "circle":
            d.ellipse(box, fill=255)
        elif kind == "square":
            d.rectangle(box, fill=255)
        else:
            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=255)
        cls = 1 if n_classes == 2 else 1 + k % (n_classes - 1)
        layers.append((np.asarray(layer) > 0, cls))
    m = np.zeros((size, size), np.uint8)
    for area, cls in layers:
        brightness = rng.uniform(150, 230)
        colour = brightness * rng.uniform(0.8, 1.0, size=3)
        if n_classes > 2:  # classes differ by hue so that they can be told apart
            colour = np.roll(np.array([brightness, 0.45 * brightness, 0.3 * brightness]), cls - 1)
        img[area] = colour + rng.normal(0, 18, size=(int(area.sum()), 3))
        m[area] = cls
    del draw
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    return out, m


def make_segmentation_dataset(
    root: str | Path,
    n_images: int = 100,
    *,
    size: int = 48,
    seed: int = 0,
    n_classes: int = 2,
    empty_prob: float = 0.0,
    layout: str = "folders",
    mask_suffix: str = "",
    mask_values: str = "0/255",
    rle_format: str = "kaggle",
    rle_order: str = "F",
) -> Path:
    """Write a generated segmentation dataset under `root` and return the data path.

    layout "folders": root/images/img_0000.png + root/masks/img_0000<mask_suffix>.png (binary
    masks as 0/255 or 0/1 per `mask_values`; class-index PNGs with more classes); returns root.
    layout "rle": root/images/*.png + root/train.csv (ImageId without extension, EncodedPixels;
    empty masks as -1 for siim, "" for kaggle); returns the CSV path.
    """
    from visionfit.data.rle import rle_encode

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        img, mask = draw_segmentation_sample(size, rng, n_classes=n_classes, empty_prob=empty_prob)
        stem = f"img_{i:04d}"
        img.save(root / "images" / f"{stem}.png")
        if layout == "rle":
            rows.append((stem, rle_encode(mask, fmt=rle_format, order=rle_order)))
            continue
        (root / "masks").mkdir(exist_ok=True)
        out = mask * 255 if (n_classes == 2 and mask_values == "0/255") else mask
        Image.fromarray(out.astype(np.uint8), "L").save(root / "masks" / f"{stem}{mask_suffix}.png")
    if layout == "rle":
        import csv

        path = root / "train.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["ImageId", "EncodedPixels"])
            w.writerows(rows)
        return path
    return root
