"""COCO instances JSON (`images`, `annotations`, `categories`) read into regions per image, and
predicted masks written back as a COCO results list.

Categories become class indices 1..K in the order of their ids (0 is the background); their
names become the class names. Each annotation's `segmentation` is a list of polygons (pixels),
an uncompressed RLE (`counts` a list) or a compressed one (`counts` a string); pycocotools
decodes them (data/shapes.py paints them, later annotation over earlier, crowd regions first).

What cannot be used is reported, never raised: an annotation naming an unknown image id or
category id, an empty or invalid polygon (odd count, fewer than 3 points, outside the image),
an RLE whose size is not its image's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from visionfit.data.shapes import Shape, polygon_problem
from visionfit.errors import DataError
from visionfit.fileio import open_regular

REQUIRED_KEYS = ("images", "annotations", "categories")

__all__ = ["CocoData", "CocoImage", "is_coco_json", "read_coco", "results_for_mask"]


@dataclass
class CocoImage:
    id: int | str
    file_name: str
    height: int
    width: int
    shapes: list[Shape] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # annotations of it that cannot be used


@dataclass
class CocoData:
    path: Path
    category_ids: list  # class index i + 1 <-> category_ids[i]
    names: list[str]
    images: list[CocoImage]
    # annotations that belong to no listed image: (where, reason)
    orphans: list[tuple[str, str]] = field(default_factory=list)
    n_annotations: int = 0
    n_crowd: int = 0


_LAST: dict = {}  # the last file parsed: {"digest": ..., "doc": ...}


def _load(path: Path) -> dict:
    """The parsed file; parsed once while its bytes are unchanged (detection, then reading,
    ask for the same file, and a COCO train2017 JSON takes seconds to parse, its bytes a
    fraction of one to hash). The result is shared: read it, never change it."""
    try:
        with open_regular(path) as f:
            raw = f.read()
        digest = hashlib.sha1(raw).hexdigest()
        if _LAST.get("digest") != digest:
            _LAST.clear()
            _LAST.update(digest=digest, doc=json.loads(raw))
        return _LAST["doc"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not a readable JSON file: {e}") from None


def is_coco_json(path: str | Path) -> bool:
    """A .json file whose top level holds `images`, `annotations` and `categories`."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        data = _load(path)
    except DataError:
        return False
    return isinstance(data, dict) and all(k in data for k in REQUIRED_KEYS)


def read_coco(path: str | Path) -> CocoData:
    """The images of a COCO instances JSON with their regions (nothing decoded yet)."""
    path = Path(path)
    raw = _load(path)
    if not isinstance(raw, dict) or any(not isinstance(raw.get(k), list) for k in REQUIRED_KEYS):
        raise DataError(
            f"{path} is no COCO instances file: its top level needs the lists "
            + ", ".join(REQUIRED_KEYS)
        )
    cats = [c for c in raw["categories"] if isinstance(c, dict) and "id" in c]
    if not cats:
        raise DataError(f"{path}: `categories` lists no category with an id")
    cats.sort(key=lambda c: c["id"])
    index = {c["id"]: i + 1 for i, c in enumerate(cats)}
    if len(index) != len(cats):
        raise DataError(f"{path}: two categories share an id")
    images: dict = {}
    for i, im in enumerate(raw["images"]):
        try:
            images[im["id"]] = CocoImage(im["id"], str(im["file_name"]), int(im["height"]),
                                         int(im["width"]))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: images[{i}] needs id, file_name, height and width") from None
    data = CocoData(path, [c["id"] for c in cats], [str(c.get("name", c["id"])) for c in cats],
                    list(images.values()))  # fmt: skip
    for i, ann in enumerate(raw["annotations"]):
        _add_annotation(data, images, index, i, ann)
    return data


def _add_annotation(data: CocoData, images: dict, index: dict, i: int, ann) -> None:
    where = f"annotation {ann.get('id', f'#{i}') if isinstance(ann, dict) else f'#{i}'}"
    if not isinstance(ann, dict):
        data.orphans.append((where, "not an object"))
        return
    image = images.get(ann.get("image_id"))
    if image is None:
        data.orphans.append((where, f"unknown image id {ann.get('image_id')!r}"))
        return
    data.n_annotations += 1
    cls = index.get(ann.get("category_id"))
    if cls is None:
        image.problems.append(f"{where}: unknown category id {ann.get('category_id')!r}")
        return
    crowd = bool(ann.get("iscrowd", 0))
    shape, problem = _shape(ann.get("segmentation"), cls, crowd, image)
    if problem:
        image.problems.append(f"{where}: {problem}")
        return
    data.n_crowd += crowd
    image.shapes.append(shape)


def _shape(seg, cls: int, crowd: bool, image: CocoImage) -> tuple[Shape | None, str]:
    h, w = image.height, image.width
    if isinstance(seg, list):
        if not seg:
            return None, "empty segmentation"
        polys = []
        for poly in seg:
            problem = polygon_problem(poly, w, h) if isinstance(poly, list) else "not a list"
            if problem:
                return None, f"invalid polygon: {problem}"
            polys.append(tuple(float(v) for v in poly))
        return (cls, crowd, "poly", tuple(polys)), ""
    if isinstance(seg, dict) and "counts" in seg and "size" in seg:
        size = seg["size"]
        if list(size) != [h, w]:
            return None, f"RLE size {size} is not the image's [{h}, {w}]"
        counts = seg["counts"]
        if isinstance(counts, list):
            if any(not isinstance(c, int) or c < 0 for c in counts) or sum(counts) != h * w:
                return None, f"uncompressed RLE counts do not add up to {h} x {w} pixels"
            return (cls, crowd, "rle", (tuple(counts), h, w)), ""
        if isinstance(counts, str) and counts:
            return (cls, crowd, "rle", (counts, h, w)), ""
        return None, "RLE counts are neither a list nor a string"
    return None, "segmentation is neither a list of polygons nor an RLE"


def results_for_mask(mask, image_id, category_ids: list, score: float) -> list[dict]:
    """COCO results entries of one predicted class-index mask: one compressed RLE per
    foreground class present (class index c -> category_ids[c - 1])."""
    import numpy as np
    from pycocotools import mask as coco_mask

    out = []
    for c in sorted(int(v) for v in np.unique(mask) if 0 < v <= len(category_ids)):
        rle = coco_mask.encode(np.asfortranarray((mask == c).astype(np.uint8)))
        out.append(
            {
                "image_id": image_id,
                "category_id": category_ids[c - 1],
                "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode()},
                "score": round(float(score), 6),
            }
        )
    return out
