"""Segmentation data in annotation formats (`--format coco | yolo`, or detected) -> the samples
table of tasks/segmentation/sources.py, its rows carrying their regions (`shapes`) instead of a
mask file; the masks are painted when a sample is loaded (tasks/segmentation/targets.py).

Detection (`--format auto`), before the mask-folder layouts:

* coco: DATA is a .json file whose top level holds `images`, `annotations` and `categories`,
  or a folder holding `annotations/instances_*.json` (one per split, the split named in the
  file name: instances_train2017.json, instances_val2017.json). The images are looked for
  under `--root` (default: the JSON's folder; for the folder form DATA), at their
  `file_name`, else by file name anywhere below.
* yolo: DATA is a data.yaml (with `train` and `names`), or a folder holding data.yaml.

What cannot be used is left out and said (check lists it, train writes it to skipped.csv):
an image missing on disk or unreadable, an image whose size differs from the JSON's, an image
with an annotation that cannot be read (the whole image: training on it without that region
would teach background where an object is), an annotation of no listed image.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from visionfit.config import DataConfig, TaskSection
from visionfit.data.coco import is_coco_json, read_coco
from visionfit.data.listing import list_images
from visionfit.data.masks import MaskSpec
from visionfit.data.yolo import find_data_yaml, label_path, read_labels, read_yolo
from visionfit.errors import DataError
from visionfit.runs.kind import is_visionfit_dir
from visionfit.tasks.segmentation.pairs import SegSamples, scan_pairs
from visionfit.text import plural

FORMATS = ("coco", "yolo")
COLUMNS = ["image", "id", "mask", "rle", "shapes", "height", "width", "empty_mask", "split"]
INVALID, NO_IMAGE = "invalid annotation", "annotation of no image"


def _coco_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if is_coco_json(path) else []
    folder = path / "annotations"
    files = sorted(folder.glob("instances_*.json")) if folder.is_dir() else []
    return [f for f in files if is_coco_json(f)]


def source_format(data: DataConfig) -> str | None:
    """The annotation format DATA is in (`--format`, else detected), or None (other layouts)."""
    fmt = getattr(data, "format", "auto")
    if fmt not in FORMATS and fmt != "auto":
        return None
    if data.csv or not data.path:
        if fmt in FORMATS:
            raise DataError(f"--format {fmt} reads DATA (a file or folder), not --csv")
        return None
    path = Path(data.path)
    if fmt in ("auto", "coco") and _coco_files(path):
        return "coco"
    if fmt in ("auto", "yolo") and find_data_yaml(path):
        return "yolo"
    if fmt == "coco":
        raise DataError(
            f"--format coco: {path} is no COCO instances JSON (a .json whose top level holds "
            "images, annotations and categories) nor a folder with annotations/instances_*.json"
        )
    if fmt == "yolo":
        raise DataError(
            f"--format yolo: {path} is no YOLO data.yaml (with train and names) nor a folder "
            "holding data.yaml"
        )
    return None


def claims(path: Path) -> bool:
    """`--task auto`: DATA is in one of these formats."""
    return source_format(DataConfig(path=str(path))) is not None


def read_format(
    fmt: str, data: DataConfig, seg: TaskSection, progress: Callable | None
) -> SegSamples:
    if seg.colour_map or data.mask_values != "auto":
        raise DataError(
            f"--colour-map and --mask-values read mask files; {fmt} data names its classes "
            "itself: drop them"
        )
    if fmt == "yolo" and data.ignore_index is not None:
        raise DataError(
            "--ignore-index makes COCO crowd regions ignored; YOLO labels have none: drop it"
        )
    read = _coco_samples if fmt == "coco" else _yolo_samples
    samples = read(Path(data.path), data, progress)
    k = samples.spec.num_classes
    if seg.num_classes is not None and seg.num_classes != k:  # a run's config says K (evaluate)
        raise DataError(
            f"--num-classes {seg.num_classes}, but {data.path} names {k - 1} classes (+ the "
            f"background = {k}); drop --num-classes"
        )
    return samples


# --------------------------------------------------------------------------------------------------


def _split_of(json_path: Path, n_files: int) -> str:
    if n_files == 1:
        return ""
    name = json_path.stem.lower()
    for word, split in (("train", "train"), ("val", "val"), ("test", "test")):
        if re.search(word, name):
            return split
    raise DataError(
        f"{json_path.name}: with several annotation files each names its split "
        "(instances_train*.json, instances_val*.json, instances_test*.json)"
    )


class _Finder:
    """An image's file under root: root/file_name, else by file name anywhere below root
    (the listing made once, when first needed)."""

    def __init__(self, root: Path):
        self.root, self._by_name = root, None

    def __call__(self, file_name: str) -> Path | None:
        direct = self.root / file_name
        if direct.is_file():
            return direct
        if self._by_name is None:
            self._by_name = {}
            for p in list_images(self.root, is_visionfit_dir).images:
                self._by_name.setdefault(p.name, []).append(p)
        found = self._by_name.get(Path(file_name).name, [])
        return found[0] if len(found) == 1 else None


def _coco_samples(path: Path, data: DataConfig, progress) -> SegSamples:
    files = _coco_files(path)
    root = Path(data.root) if data.root else (path if path.is_dir() else path.parent)
    if not root.is_dir():
        raise DataError(f"image root folder not found: {root} (set it with --root)")
    find = _Finder(root)
    rows, skipped, dropped, first = [], [], [], None
    n_ann = n_crowd = 0
    for f in files:
        coco = read_coco(f)
        if first is None:
            first = coco
        elif (coco.category_ids, coco.names) != (first.category_ids, first.names):
            raise DataError(f"{f.name} and {first.path.name} list different categories")
        split = _split_of(f, len(files))
        n_ann, n_crowd = n_ann + coco.n_annotations, n_crowd + coco.n_crowd
        dropped += [(str(f), NO_IMAGE, f"{w}: {r}") for w, r in coco.orphans]
        for im in coco.images:
            found = find(im.file_name)
            if found is None:
                skipped.append((str(root / im.file_name), "missing"))
            elif im.problems:
                dropped.append((str(found.resolve()), INVALID, "; ".join(im.problems[:3])))
            else:
                rows.append((found, str(im.id), tuple(im.shapes), split, (im.height, im.width)))
    source = {
        "format": "coco",
        "category_ids": first.category_ids,
        "annotations": [str(f.resolve()) for f in files],
    }
    note = _coco_note(len(first.names), n_ann, n_crowd, data.ignore_index)
    return _samples(
        rows, skipped, dropped, progress, layout="coco", names=first.names,
        ignore=data.ignore_index, source=source, note=note,
    )  # fmt: skip


def _coco_note(k: int, n_ann: int, n_crowd: int, ignore: int | None) -> str:
    crowd = "ignored (--ignore-index)" if ignore is not None else "read as their category"
    return (
        f"COCO: {plural(k, 'category')} -> classes 1..{k} in category-id order "
        "(0 = background); "
        f"{n_ann} annotations, overlaps painted in file order (a later annotation wins); "
        f"{n_crowd} crowd regions, painted first and {crowd}"
    )


def _yolo_samples(path: Path, data: DataConfig, progress) -> SegSamples:
    yolo = read_yolo(find_data_yaml(path))
    rows, skipped, dropped = [], [], []
    for img, split in yolo.images:
        shapes, problems = read_labels(label_path(img), len(yolo.names))
        if not img.is_file():
            skipped.append((str(img), "missing"))
        elif problems:
            dropped.append((str(img.resolve()), INVALID, "; ".join(problems[:3])))
        else:
            rows.append((img, img.stem, tuple(shapes), split, None))
    k = len(yolo.names)
    note = (
        f"YOLO: {k} class{'' if k == 1 else 'es'} -> mask indices 1..{k} (class c -> c + 1, "
        "0 = background); overlapping polygons: a later line wins"
    )
    return _samples(rows, skipped, dropped, progress, layout="yolo", names=yolo.names,
                    ignore=None, source={"format": "yolo"}, note=note)  # fmt: skip


def _samples(rows, skipped, dropped, progress, *, layout, names, ignore, source, note):
    """Scan the images (sizes) and build the samples table; an image whose size differs from
    the annotation file's is dropped."""
    scans = scan_pairs([(str(r[0]), None) for r in rows], progress)
    out = []
    for (img, image_id, shapes, split, size), scan in zip(rows, scans, strict=True):
        if scan.error:
            skipped.append((scan.bad_file, scan.error))
            continue
        if size is not None and tuple(size) != tuple(scan.image_size):
            h, w = scan.image_size
            detail = f"the file is {w}x{h}, the annotations say {size[1]}x{size[0]}"
            dropped.append((str(img.resolve()), "size differs from its annotations", detail))
            continue
        h, w = scan.image_size
        out.append((str(img.resolve()), image_id, "", (), shapes, h, w, not shapes, split))
    spec = MaskSpec(len(names) + 1, ignore_value=ignore, decisions=(note,))
    return SegSamples(
        df=pd.DataFrame(out, columns=COLUMNS),
        spec=spec,
        classes=["background", *names],
        layout=layout,
        skipped=skipped,
        dropped=dropped,
        source=source,
    )
