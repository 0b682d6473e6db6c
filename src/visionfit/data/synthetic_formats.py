"""A generated mask-folder dataset (data/synthetic.py) written again as a COCO instances JSON and
as YOLO segmentation labels: the same images, each mask's regions traced into polygons (one
annotation per connected region of each class). For tests, examples and the docs.

>>> root = make_segmentation_dataset("seg", 24, size=32, n_classes=3)
>>> write_coco("seg", "seg/coco.json"); write_yolo("seg", "seg-yolo")
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from visionfit.data.masks import decode_mask
from visionfit.data.shapes import mask_polygons

__all__ = ["write_coco", "write_yolo"]


def _pairs(root: Path) -> list[tuple[Path, np.ndarray]]:
    out = []
    for img in sorted((root / "images").glob("*.png")):
        raw = decode_mask(next((root / "masks").glob(img.stem + ".*")))
        out.append((img, np.where(raw == 255, 1, raw).astype(np.uint8)))
    return out


def _regions(mask: np.ndarray):
    """(class, polygon as a flat list) per connected region of each foreground class."""
    for c in sorted(int(v) for v in np.unique(mask) if v):
        for poly in mask_polygons(mask == c):
            yield c, [round(float(v), 2) for v in poly.reshape(-1)]


def _rle(region: np.ndarray) -> dict:
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(region.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode()}


def write_coco(
    root: str | Path, json_path: str | Path, names: list[str] | None = None, rle: bool = False
) -> Path:
    """ROOT/images + ROOT/masks as a COCO instances JSON (file names relative to ROOT);
    category ids 1..K-1 for the masks' classes 1..K-1. Regions as polygons traced from the
    masks (data/shapes.py: painted again they give the mask's pixels, holes aside), or with
    `rle` one compressed RLE per class and image."""
    root, json_path = Path(root), Path(json_path)
    pairs = _pairs(root)
    k = max(int(m.max()) for _, m in pairs) if pairs else 1
    names = names or [f"class_{c}" for c in range(1, max(k, 1) + 1)]
    images, anns = [], []
    for i, (img, mask) in enumerate(pairs, start=1):
        h, w = mask.shape
        images.append({"id": i, "file_name": img.relative_to(root).as_posix(), "height": h,
                       "width": w})  # fmt: skip
        regions = (
            [(c, _rle(mask == c)) for c in sorted(int(v) for v in np.unique(mask) if v)]
            if rle
            else [(c, [poly]) for c, poly in _regions(mask)]
        )
        for c, seg in regions:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c,
                         "segmentation": seg, "iscrowd": 0,
                         "area": float((mask == c).sum())})  # fmt: skip
    cats = [{"id": c, "name": n} for c, n in enumerate(names, start=1)]
    doc = {"images": images, "annotations": anns, "categories": cats}
    json_path.write_text(json.dumps(doc))
    return json_path


def write_yolo(
    root: str | Path, out: str | Path, names: list[str] | None = None, val_every: int = 5
) -> Path:
    """ROOT/images + ROOT/masks as an Ultralytics layout: OUT/images/{train,val}/x.png,
    OUT/labels/{train,val}/x.txt and OUT/data.yaml (every `val_every`-th image in val)."""
    from visionfit.data.yolo import yolo_lines

    root, out = Path(root), Path(out)
    pairs = _pairs(root)
    k = max(int(m.max()) for _, m in pairs) if pairs else 1
    names = names or [f"class_{c}" for c in range(1, max(k, 1) + 1)]
    for i, (img, mask) in enumerate(pairs):
        split = "val" if val_every and i % val_every == val_every - 1 else "train"
        for sub in ("images", "labels"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(img, out / "images" / split / img.name)
        lines = yolo_lines(mask, len(names) + 1)
        (out / "labels" / split / f"{img.stem}.txt").write_text("".join(f"{x}\n" for x in lines))
    body = "path: .\ntrain: images/train\nval: images/val\nnames:\n"
    (out / "data.yaml").write_text(body + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    return out / "data.yaml"
