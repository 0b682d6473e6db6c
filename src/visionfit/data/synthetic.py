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
