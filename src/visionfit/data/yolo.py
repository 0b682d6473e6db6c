"""YOLO segmentation labels (the Ultralytics layout) read into regions per image, and predicted
masks written back as label files.

`data.yaml` names the dataset root (`path`, default: the yaml's folder), the splits (`train`,
`val`, optional `test`: a folder of images, a .txt list of images (relative to the list's
folder), or a list of either, relative to the root) and the classes (`names`, a list or a
{index: name} dict). The label of
`.../images/<split>/x.jpg` is `.../labels/<split>/x.txt`; each line is `class x1 y1 x2 y2 ...`,
coordinates normalised to 0..1. Class c becomes mask index c + 1 (0 is the background). An
image without a label file, or with an empty one, has an empty mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from visionfit.data.io import is_image_file
from visionfit.data.listing import list_images
from visionfit.data.shapes import Shape, mask_polygons, polygon_problem
from visionfit.errors import DataError
from visionfit.fileio import read_regular_text

YAML_NAMES = ("data.yaml", "data.yml")
SPLITS = ("train", "val", "test")
_MAX_LABEL_BYTES = 64 * 2**20

__all__ = ["YoloData", "find_data_yaml", "label_path", "read_labels", "read_yolo", "yolo_lines"]


@dataclass
class YoloData:
    yaml_path: Path
    root: Path
    names: list[str]
    images: list[tuple[Path, str]]  # (image, split)
    notes: list[str] = field(default_factory=list)


def find_data_yaml(path: str | Path) -> Path | None:
    """DATA's data.yaml: DATA itself (a .yaml / .yml file with `names`), or data.yaml in DATA."""
    path = Path(path)
    if path.is_dir():
        path = next((path / n for n in YAML_NAMES if (path / n).is_file()), path / YAML_NAMES[0])
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        return None
    try:
        doc = yaml.safe_load(read_regular_text(path, max_bytes=2**20))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return path if isinstance(doc, dict) and "names" in doc and "train" in doc else None


def _names(raw, where: Path) -> list[str]:
    if isinstance(raw, list):
        return [str(n) for n in raw]
    if isinstance(raw, dict):
        try:
            keys = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DataError(f"{where}: `names` keys must be class numbers 0, 1, ...") from None
        if keys != list(range(len(keys))):
            raise DataError(f"{where}: `names` must number the classes 0..{len(keys) - 1}")
        return [str(raw.get(k, raw.get(str(k)))) for k in keys]
    raise DataError(f"{where}: `names` must be a list or a {{index: name}} mapping")


def read_yolo(yaml_path: str | Path) -> YoloData:
    """The images of every split data.yaml names, with their split."""
    yaml_path = Path(yaml_path)
    doc = yaml.safe_load(read_regular_text(yaml_path, max_bytes=2**20))
    if not isinstance(doc, dict) or "names" not in doc or "train" not in doc:
        raise DataError(f"{yaml_path} is no YOLO data.yaml: it needs `train` and `names`")
    base = Path(str(doc.get("path") or "."))
    root = base if base.is_absolute() else (yaml_path.parent / base)
    names = _names(doc["names"], yaml_path)
    if not names:
        raise DataError(f"{yaml_path}: `names` lists no class")
    images: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for split in SPLITS:
        entries = doc.get(split)
        if not entries:
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            for img in _split_images(root, str(entry), yaml_path, split):
                if img not in seen:
                    seen.add(img)
                    images.append((img, split))
    if not images:
        raise DataError(f"{yaml_path}: its splits hold no image (looked under {root})")
    return YoloData(yaml_path, root, names, images)


def _split_images(root: Path, entry: str, yaml_path: Path, split: str) -> list[Path]:
    where = root / entry
    if where.is_dir():
        return sorted(p for p in list_images(where).images if p.is_file())
    if where.is_file() and where.suffix.lower() == ".txt":
        lines = read_regular_text(where, max_bytes=_MAX_LABEL_BYTES).splitlines()
        paths = [Path(line.strip()) for line in lines if line.strip()]
        # as Ultralytics reads them: relative paths from the list's own folder
        return [p if p.is_absolute() else (where.parent / p) for p in paths if is_image_file(p)]
    raise DataError(f"{yaml_path}: the {split} split {entry!r} is no folder or .txt under {root}")


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`, .txt suffix."""
    parts = list(image.parts)
    hits = [i for i, p in enumerate(parts) if p == "images"]
    if hits:
        parts[hits[-1]] = "labels"
    return Path(*parts).with_suffix(".txt")


def read_labels(path: Path, n_classes: int) -> tuple[list[Shape], list[str]]:
    """The regions of one label file (none when it is missing) and its invalid lines."""
    if not path.is_file():
        return [], []
    shapes: list[Shape] = []
    problems: list[str] = []
    text = read_regular_text(path, max_bytes=_MAX_LABEL_BYTES)
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        problem = ""
        try:
            cls = int(parts[0])
        except ValueError:
            problem = f"class {parts[0][:20]!r} is not an integer"
        else:
            if not 0 <= cls < n_classes:
                problem = f"class {cls} outside 0..{n_classes - 1} (the names of data.yaml)"
        coords = parts[1:]
        if not problem and len(coords) == 4:
            problem = "4 values after the class: a detection box, not a polygon"
        problem = problem or polygon_problem(coords, 1.0, 1.0)
        if problem:
            problems.append(f"{path.name} line {n}: {problem}")
            continue
        poly = tuple(min(max(float(v), 0.0), 1.0) for v in coords)
        shapes.append((cls + 1, False, "norm", (poly,)))
    return shapes, problems


def yolo_lines(mask: np.ndarray, num_classes: int) -> list[str]:
    """Label lines of a class-index mask: per foreground class its outer contours, normalised
    (class index c is written as YOLO class c - 1)."""
    h, w = mask.shape
    lines = []
    for c in range(1, num_classes):
        for poly in mask_polygons(mask == c):
            xy = poly / np.array([w, h], np.float64)
            lines.append(f"{c - 1} " + " ".join(f"{v:.6f}" for v in xy.reshape(-1)))
    return lines
