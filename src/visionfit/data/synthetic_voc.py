"""Generated segmentation sets in the layouts practitioners download: Pascal VOC folders and a
multi-class RLE CSV (Severstal's `ImageId,ClassId,EncodedPixels`), for tests and examples."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from visionfit.data.masks import voc_palette
from visionfit.data.rle import rle_encode
from visionfit.data.synthetic import draw_segmentation_sample


def make_voc_dataset(
    root: str | Path,
    n_images: int = 24,
    *,
    size: int = 32,
    seed: int = 0,
    n_classes: int = 3,
    val_share: float = 0.25,
) -> Path:
    """root/JPEGImages/<id>.jpg, root/SegmentationClass/<id>.png (palette PNGs with VOC's palette,
    a 1-pixel 255 "void" border around each object, as VOC draws them) and
    root/ImageSets/Segmentation/{train,val}.txt; returns root."""
    root = Path(root)
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"2007_{i:06d}" for i in range(n_images)]
    for image_id in ids:
        img, mask = draw_segmentation_sample(size, rng, n_classes=n_classes)
        img.save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
        border = ndimage.binary_dilation(mask > 0) & ~ndimage.binary_erosion(mask > 0)
        out = Image.fromarray(np.where(border, 255, mask).astype(np.uint8), "P")
        out.putpalette(voc_palette())
        out.save(root / "SegmentationClass" / f"{image_id}.png")
    n_val = max(1, round(n_images * val_share))
    sets = root / "ImageSets" / "Segmentation"
    (sets / "train.txt").write_text("".join(f"{i}\n" for i in ids[n_val:]))
    (sets / "val.txt").write_text("".join(f"{i}\n" for i in ids[:n_val]))
    (sets / "trainval.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def make_multiclass_rle_dataset(
    root: str | Path, n_images: int = 24, *, size: int = 32, seed: int = 0, n_classes: int = 3
) -> Path:
    """root/images/<id>.jpg + root/train.csv: `ImageId,ClassId,EncodedPixels`, one row per image
    and class present (kaggle format, column-major), ids with their extension as Severstal's;
    an image with no object gets no row (it is not in the CSV). Returns the CSV path."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        img, mask = draw_segmentation_sample(size, rng, n_classes=n_classes)
        name = f"{i:09x}.jpg"
        img.save(root / "images" / name, quality=95)
        for c in range(1, n_classes):
            if (mask == c).any():
                rows.append((name, c, rle_encode(mask == c)))
    path = root / "train.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ImageId", "ClassId", "EncodedPixels"])
        w.writerows(rows)
    return path
