"""Annotated regions (polygons and COCO RLE) painted into class-index masks, and masks traced
back into polygons: what the COCO and YOLO readers store per image instead of a mask file.

A region is a `Shape`, a plain tuple (hashable, cheap to pickle to loader workers, stable
under `repr` for the decode-once cache key):

    (class_index, crowd, kind, data)

* kind "poly": `data` is a tuple of polygons, each a tuple x1, y1, x2, y2, ... in pixels;
* kind "norm": the same with coordinates in 0..1 of the image's width and height (YOLO);
* kind "rle": `data` is (counts, height, width), counts a COCO compressed string or a tuple
  of run lengths (uncompressed RLE).

Masks are painted when a sample is loaded (`paint_shapes`), with pycocotools, so that a large
annotation file is never turned into all of its masks at once.

Overlaps: regions are painted in their order, a later region over an earlier one ("later
annotation wins"); crowd regions first, below every other region, so that an instance drawn
over a crowd keeps its class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from visionfit.errors import DataError

Shape = tuple  # (class_index, crowd, kind, data): see the module docstring

# Coordinates may stray this far outside the image (in pixels) before a polygon is refused:
# COCO's own annotations hold vertices on the far border (x = width) and a little past it.
BORDER_SLACK = 1.0

__all__ = ["BORDER_SLACK", "Shape", "mask_polygons", "paint_shapes", "polygon_problem"]


def polygon_problem(coords: Sequence, width: float, height: float) -> str:
    """Why a flat x1, y1, x2, y2, ... list is no polygon inside a width x height image ("" if
    it is one): an odd count, fewer than 3 points, a value that is no number, out of bounds."""
    try:
        values = [float(v) for v in coords]
    except (TypeError, ValueError):
        return "a coordinate is not a number"
    if len(values) % 2:
        return f"odd number of coordinates ({len(values)})"
    if len(values) < 6:
        return f"fewer than 3 points ({len(values) // 2})"
    if not all(np.isfinite(values)):
        return "a coordinate is not finite"
    xs, ys = values[0::2], values[1::2]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    slack_x = BORDER_SLACK if width > 1.5 else BORDER_SLACK / 100
    slack_y = BORDER_SLACK if height > 1.5 else BORDER_SLACK / 100
    if lo_x < -slack_x or lo_y < -slack_y or hi_x > width + slack_x or hi_y > height + slack_y:
        return (
            f"outside the image: x {lo_x:g}..{hi_x:g}, y {lo_y:g}..{hi_y:g} "
            f"(the image is {width:g} x {height:g})"
        )
    return ""


def _rles(shape: Shape, h: int, w: int) -> list:
    from pycocotools import mask as coco_mask

    _, _, kind, data = shape
    if kind in ("poly", "norm"):
        scale = (w, h) if kind == "norm" else (1.0, 1.0)
        polys = []
        for p in data:
            xy = np.asarray(p, np.float64).reshape(-1, 2) * scale
            polys.append(xy.reshape(-1).tolist())
        return coco_mask.frPyObjects(polys, h, w)
    counts, rh, rw = data
    if (int(rh), int(rw)) != (h, w):
        raise DataError(f"an RLE region is {rw}x{rh} but its image is {w}x{h}")
    if isinstance(counts, str):
        return [{"size": [h, w], "counts": counts.encode("ascii")}]
    return [coco_mask.frPyObjects({"size": [h, w], "counts": list(counts)}, h, w)]


def paint_shapes(
    shapes: Iterable[Shape], shape: tuple[int, int], *, crowd_value: int | None = None
) -> np.ndarray:
    """The class-index mask (uint8, H x W) of an image's regions (module docstring: the order).

    `crowd_value`: the value painted for crowd regions (e.g. the ignore index); None paints them
    as their class."""
    from pycocotools import mask as coco_mask

    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.uint8)
    items = list(shapes)
    for shape_ in [s for s in items if s[1]] + [s for s in items if not s[1]]:
        rles = _rles(shape_, h, w)
        if not rles:
            continue
        area = coco_mask.decode(coco_mask.merge(rles) if len(rles) > 1 else rles[0])
        value = crowd_value if shape_[1] and crowd_value is not None else shape_[0]
        out[area.astype(bool)] = value
    return out


def mask_polygons(mask: np.ndarray, min_points: int = 3) -> list[np.ndarray]:
    """The outer contours of a 0/1 mask as (N, 2) float arrays of x, y coordinates (pixel i
    spans i..i+1, as in COCO; OpenCV's border following, holes not traced).

    Traced on the mask doubled in size, so that the outline runs a quarter pixel inside the
    border pixels' edges, not through their centres: painting it again gives the same pixels."""
    import cv2

    up = np.ascontiguousarray(mask, np.uint8).repeat(2, axis=0).repeat(2, axis=1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [(c.reshape(-1, 2) + 0.5) / 2 for c in contours if len(c) >= min_points]
