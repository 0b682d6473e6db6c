"""`visionfit predict RUN IMAGES --format coco | yolo --out PATH`: predicted masks written in an
annotation format instead of the RLE CSV.

* coco: `--out preds.json`, a COCO results list: per image and foreground class present one
  entry {image_id, category_id, segmentation (compressed RLE, pycocotools), score}. image_id is
  the id the run's COCO annotation file(s) gave the image's file name, where the run was trained
  on COCO data and the file still lists it; else the file name. category_id is the COCO id of
  the class (COCO runs), else the class index (1..K-1). score: the image's largest foreground
  probability (binary runs); 1.0 for multi-class runs (their masks are an argmax).
* yolo: `--out DIR` (new or empty), one `<image stem>.txt` per image: per foreground class the
  outer contours of its regions, normalised (class index c written as YOLO class c - 1). An
  empty mask gives an empty file.
"""

from __future__ import annotations

import json
from pathlib import Path

from visionfit.errors import DataError
from visionfit.fileio import check_new_path, create_exclusive

FORMATS = ("coco", "yolo")

__all__ = ["FORMATS", "check_format_out", "coco_entries", "write_coco", "write_yolo_files"]


def check_format_out(fmt: str, out: Path | None, names: list[str]) -> None:
    """Refuse what would overwrite: the JSON must be new, the folder new or empty."""
    if fmt not in FORMATS:
        raise DataError(
            f"--format {fmt}: segmentation predictions are written as {' or '.join(FORMATS)}"
        )
    if out is None:
        raise DataError(f"--format {fmt} needs --out (a .json file for coco, a folder for yolo)")
    if fmt == "coco":
        if out.suffix.lower() != ".json":
            raise DataError(f"--format coco writes a JSON results list: give --out {out.stem}.json")
        check_new_path(out)
        return
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DataError(
            f"{len(dup)} input names occur twice (e.g. {sorted(dup)[0]!r}); YOLO label files are "
            "named after the image, so give inputs with distinct names"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} exists and is not an empty folder; choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)


def coco_entries(item, mask, head, score: float) -> list[dict]:
    """The results entries of one image (image_id: its file name until `write_coco`)."""
    from visionfit.data.coco import results_for_mask

    ids = head.source.get("category_ids") or list(range(1, head.num_classes))
    name = Path(item).name if isinstance(item, (str, Path)) else str(item)
    return results_for_mask(mask, name, list(ids), score)


def _coco_image_ids(source: dict) -> dict[str, object]:
    """file name -> image id in the run's COCO annotation files (those still readable)."""
    from visionfit.data.coco import read_coco

    ids: dict[str, object] = {}
    for path in source.get("annotations", []):
        try:
            coco = read_coco(path)
        except (DataError, OSError):
            continue
        for im in coco.images:
            ids.setdefault(Path(im.file_name).name, im.id)
    return ids


def write_coco(out: Path, entries: list[dict], source: dict) -> int:
    """The results list as one new JSON file; returns how many entries got a COCO image id."""
    ids = _coco_image_ids(source) if source.get("format") == "coco" else {}
    known = 0
    for e in entries:
        if e["image_id"] in ids:
            e["image_id"], known = ids[e["image_id"]], known + 1
    out.parent.mkdir(parents=True, exist_ok=True)
    create_exclusive(out, json.dumps(entries), flag="--out")
    return known


def write_yolo_files(folder: Path, names: list[str], masks: list, num_classes: int) -> None:
    """One label file per readable input (an empty file for an empty mask)."""
    from visionfit.data.yolo import yolo_lines

    for name, mask in zip(names, masks, strict=True):
        if mask is not None:
            text = "".join(f"{line}\n" for line in yolo_lines(mask, num_classes))
            create_exclusive(folder / f"{name}.txt", text, flag="--out")
