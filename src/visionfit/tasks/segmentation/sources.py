"""Segmentation datasets -> one samples table.

Layouts:

* folders: `DATA/images/*` + `DATA/masks/*`, paired by file name without extension (masks may be
  named `<stem><mask_suffix>.*`); or already split, `DATA/train/{images,masks}` +
  `DATA/val/{images,masks}` (also `valid/`, `validation/`).
* an RLE CSV: one or more rows per image (`id_col`, `rle_col`), images under `root` (default: the
  CSV's folder, searched recursively) found by file name or by name without extension.

`SegSamples.df` has the columns:
  image   absolute image path
  id      the image's id (file stem for folders; as written in the CSV for RLE)
  mask    absolute mask path ("" for RLE data)
  rle     tuple of the image's RLE strings (empty tuple for mask folders)
  height, width   image size (from the file header)
  empty_mask  True when the mask has no foreground pixel
  split   "train", "val" or "" when no split was given

Masks are read once here (threads; values, sizes, emptiness); RLE strings are parsed and checked
against the image size here and decoded to masks when a sample is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from visionfit.config import DataConfig, TaskSection

# `seg`: the segment section (tasks/segmentation/config.py SegmentConfig; data/ sits below tasks)
from visionfit.data.listing import list_images
from visionfit.data.mask_values import detect_mask_spec, rle_decisions
from visionfit.data.masks import (
    MASKS_DIR_NAMES,
    MaskSpec,
    size_mismatch_text,
)
from visionfit.data.rle import is_empty_rle
from visionfit.data.sources import split_values
from visionfit.errors import DataError
from visionfit.runs.kind import is_visionfit_dir
from visionfit.tasks.segmentation.folders import folder_pairs, has_mask_folders, mask_folder_parts
from visionfit.tasks.segmentation.pairs import (  # RleInfo, SegSamples: re-exported
    RleInfo,  # noqa: F401
    SegSamples,
    _is_empty,
    _skipped_text,
    scan_pairs,
)
from visionfit.tasks.segmentation.rle_csv import (
    class_column,
    image_groups,
    read_rle_rows,
    rle_fit_problems,
    rle_info,
)
from visionfit.tasks.segmentation.voc import (
    find_voc,
    voc_candidates,
    voc_class_names,
    voc_data,
    voc_rows,
)
from visionfit.usercsv import UserCsv, check_columns, read_user_csv

# --------------------------------------------------------------------------------------------------


def resolve_seg_data(cfg: DataConfig) -> tuple[Path | None, Path | None]:
    """(folder, csv): a DATA argument that is a .csv file counts as --csv."""
    if cfg.csv:
        return None, Path(cfg.csv)
    if cfg.path and Path(cfg.path).suffix.lower() == ".csv":
        return None, Path(cfg.path)
    if cfg.path:
        return Path(cfg.path), None
    raise DataError(
        "no data given: visionfit train DATA --task segment (DATA/images + DATA/masks), "
        "or an RLE CSV: --csv train.csv --root IMAGES"
    )


def load_seg_samples(
    data: DataConfig,
    seg: TaskSection,
    *,
    progress: Callable[[int, int], None] | None = None,
    strict: bool = True,
) -> SegSamples:
    """Read a segmentation dataset into a samples table (nothing is written).

    Unreadable images or masks are skipped and listed in `skipped`; with `strict`, size
    mismatches between an image and its mask are errors (naming the files).
    """
    from visionfit.tasks.segmentation.formats import read_format, source_format

    annotated = source_format(data)  # coco / yolo (tasks/segmentation/formats.py)
    folder, csv = (None, None) if annotated else resolve_seg_data(data)
    fmt = annotated or _segment_format(data, folder, csv)
    if annotated:
        samples = read_format(annotated, data, seg, progress)
    elif fmt == "rle":
        samples = _from_rle_csv(csv, data, seg, progress, strict=strict)
    else:
        if data.group_col:
            raise DataError(
                "--group-col reads a column of an RLE CSV (--csv train.csv); mask folders have "
                "no column to read groups from"
            )
        if fmt == "voc":
            samples = _from_voc(folder, data, seg, progress, strict=strict)
        else:
            samples = _from_mask_folders(folder, data, seg, progress, strict=strict)
    if samples.df.empty:
        left_out = samples.skipped + [(p, f"{r}: {d}") for p, r, d in samples.dropped]
        raise DataError("no usable image/mask pairs: " + _skipped_text(left_out))
    names = None if seg.class_names or fmt != "voc" else voc_class_names(samples.spec.num_classes)
    if names or seg.class_names or not samples.classes:  # coco and yolo name their classes
        samples.classes = names or _class_names(seg, samples.spec.num_classes)
    return samples


SEGMENT_FORMATS = ("auto", "voc", "rle", "coco", "yolo")  # coco, yolo: formats.py


def _segment_format(data: DataConfig, folder: Path | None, csv: Path | None) -> str:
    """The layout to read (--format, or auto: a CSV is an RLE CSV; a folder without
    images/ + masks/ that holds a VOC layout is VOC; else mask folders)."""
    fmt = data.format
    if fmt not in SEGMENT_FORMATS:
        raise DataError(
            f"--format {fmt!r} is not a segmentation format: choose {', '.join(SEGMENT_FORMATS)}"
        )
    if fmt == "rle" and csv is None:
        raise DataError(
            f"--format rle reads a CSV (ImageId,EncodedPixels), got the folder {folder}"
        )
    if fmt == "voc" and folder is None:
        raise DataError(f"--format voc reads a VOC folder (SegmentationClass/), got the CSV {csv}")
    if fmt != "auto":
        return fmt
    if csv is not None:
        return "rle"
    return "voc" if not has_mask_folders(folder) and voc_candidates(folder) else "folders"


def _from_voc(
    path: Path,
    data: DataConfig,
    seg: TaskSection,
    progress: Callable[[int, int], None] | None,
    *,
    strict: bool,
) -> SegSamples:
    rows, skipped, notes = voc_rows(find_voc(path))
    samples = _from_pair_rows(rows, voc_data(data), seg, progress, strict=strict, layout="voc")
    samples.skipped = skipped + samples.skipped
    if data.ignore_index is None:
        notes.append(
            "Pascal VOC: mask value 255 (the void border) is ignored, as VOC scores it; "
            "--ignore-index names another value"
        )
    samples.notes = notes + samples.notes
    return samples


def _class_names(seg: TaskSection, k: int) -> list[str]:
    if seg.class_names:
        if len(seg.class_names) != k:
            raise DataError(
                f"{len(seg.class_names)} class names given for {k} classes (background included)"
            )
        return list(seg.class_names)
    if k == 2:
        return ["background", "foreground"]
    return ["background"] + [f"class_{i}" for i in range(1, k)]


def _from_mask_folders(
    root: Path,
    data: DataConfig,
    seg: TaskSection,
    progress: Callable[[int, int], None] | None,
    *,
    strict: bool,
) -> SegSamples:
    parts, layout = mask_folder_parts(root, seg.mask_suffix)
    rows = []
    for folder, split in parts:
        for img, mask in folder_pairs(folder, seg):
            rows.append((str(img.resolve()), img.stem, str(mask.resolve()), split))
    return _from_pair_rows(rows, data, seg, progress, strict=strict, layout=layout)


def _from_pair_rows(
    rows: list[tuple[str, str, str, str]],
    data: DataConfig,
    seg: TaskSection,
    progress: Callable[[int, int], None] | None,
    *,
    strict: bool,
    layout: str,
) -> SegSamples:
    """Samples from (image, id, mask, split) rows: every mask read once, its values decided."""
    scans = scan_pairs([(r[0], r[2]) for r in rows], progress)

    skipped = [(s.bad_file, s.error) for s in scans if s.error]
    good = [(r, s) for r, s in zip(rows, scans, strict=True) if not s.error]
    mismatched = [(r, s) for r, s in good if s.mask_size != s.image_size]
    if strict:
        _check_masks_fit(good, mismatched, data, seg)
    spec = _mask_spec(good, data, seg, strict=strict)
    df = pd.DataFrame(
        {
            "image": [r[0] for r, _ in good],
            "id": [r[1] for r, _ in good],
            "mask": [r[2] for r, _ in good],
            "rle": [() for _ in good],
            "rle_class": [() for _ in good],
            "height": [s.image_size[0] for _, s in good],
            "width": [s.image_size[1] for _, s in good],
            "empty_mask": [_is_empty(s, spec) for _, s in good],
            "split": [r[3] for r, _ in good],
        }
    )
    notes = list(spec.notes)
    if mismatched:
        notes.append(f"{len(mismatched)} masks differ in size from their image")
    return SegSamples(
        df=df,
        spec=spec,
        classes=[],
        layout=layout,
        skipped=skipped,
        notes=notes,
        scans=[s for _, s in good],
    )


def _check_masks_fit(good: list, mismatched: list, data: DataConfig, seg: TaskSection) -> None:
    """Strict mode: masks the size of their image, class-index (or mapped colour) values."""
    if mismatched:
        eg = "; ".join(
            size_mismatch_text(r[0], r[2], s.image_size, s.mask_size) for r, s in mismatched[:3]
        )
        raise DataError(
            f"{len(mismatched)} masks differ in size from their image (e.g. {eg}); "
            "`visionfit check DATA --task segment` lists them all"
        )
    if any(s.colour for _, s in good) and not seg.colour_map:
        first = next(r[2] for r, s in good if s.colour)
        raise DataError(
            f"colour (RGB) masks, e.g. {first}: give a colour -> class map with --colour-map "
            "('0,0,0=0;255,0,0=1' or a JSON file)"
        )
    k = seg.num_classes
    if k and k > 2 and not seg.colour_map:
        spec = MaskSpec(k, ignore_value=data.ignore_index)
        bad = [(r[2], spec.unexpected_values(s.values)) for r, s in good if not s.colour]
        bad = [(m, v) for m, v in bad if v]
        if bad:
            eg = "; ".join(f"{m} has {', '.join(map(str, v[:5]))}" for m, v in bad[:3])
            raise DataError(
                f"{len(bad)} masks hold values outside the classes 0..{k - 1} (--num-classes {k}), "
                f"e.g. {eg}"
            )


def _mask_spec(good: list, data: DataConfig, seg: TaskSection, *, strict: bool) -> MaskSpec:
    try:
        return detect_mask_spec(
            [s.values for _, s in good if not s.colour],
            num_classes=seg.num_classes,
            colour_map=seg.colour_map,
            mask_values=data.mask_values,
            ignore_index=data.ignore_index,
        )
    except DataError as e:
        if strict:
            raise
        # `visionfit check` goes on and reports it as a problem (train refuses it)
        return MaskSpec(seg.num_classes or 2, problem=str(e))


# --------------------------------------------------------------------------------------------------


def _from_rle_csv(
    csv_path: Path,
    data: DataConfig,
    seg: TaskSection,
    progress: Callable[[int, int], None] | None,
    *,
    strict: bool = True,
) -> SegSamples:
    table = _read_rle_csv(csv_path, data, seg)
    raw = table.df
    root = Path(data.root) if data.root else csv_path.parent
    if not root.is_dir():
        raise DataError(f"image root folder not found: {root} (set it with --root)")
    read = read_rle_rows(raw, seg, csv_path.name)
    groups = read.groups
    # an image with several RLE rows takes its first row's split
    split_of = (
        dict(
            zip(
                raw[seg.id_col].str.strip()[::-1],
                split_values(raw[data.split_col], csv_path.name)[::-1],
                strict=True,
            )
        )
        if data.split_col
        else {}
    )
    paths = _resolve_ids(list(groups), root, data.image_ext, csv_path)
    scans = scan_pairs([(str(p), None) for p in paths], progress)
    rows, skipped, problems = [], [], list(read.problems)
    for (image_id, entries), path, scan in zip(groups.items(), paths, scans, strict=True):
        if scan.error:
            skipped.append((scan.bad_file, scan.error))
            continue
        misfit = rle_fit_problems(
            entries, scan.image_size, path.name, image_id, seg.rle_format, csv_path.name
        )
        problems += misfit
        if misfit:
            continue
        rows.append(
            {
                "image": str(path.resolve()),
                "id": image_id,
                "mask": "",
                "rle": tuple(r.rle for r in entries),
                "rle_class": tuple(r.cls for r in entries),
                "height": scan.image_size[0],
                "width": scan.image_size[1],
                "empty_mask": all(is_empty_rle(r.rle) or r.cls == 0 for r in entries),
                "split": split_of.get(image_id, ""),
            }
        )
    if strict and problems:
        more = (
            f" (and {len(problems) - 1} more; `visionfit check` lists them)" if problems[1:] else ""
        )
        raise DataError(problems[0] + more)
    df = pd.DataFrame(rows, columns=[*_COLUMNS[:4], "rle_class", *_COLUMNS[4:]])
    if data.group_col:
        df["group"] = image_groups(raw, seg.id_col, data.group_col, csv_path)[df["id"]].values
    n_multi = sum(len(v) > 1 for v in groups.values())
    merged = "merged" if not read.class_col else "one class-index mask each"
    notes = table.notes + (
        [f"{n_multi} images have several RLE rows ({merged})"] if n_multi else []
    )
    return SegSamples(
        df=df,
        spec=MaskSpec(read.num_classes, decisions=rle_decisions(read.num_classes, read.class_col)),
        classes=[],
        layout="rle-csv",
        rle=rle_info(raw[seg.rle_col], seg, groups, read.class_col),
        skipped=skipped,
        notes=notes,
        problems=problems,
    )


_COLUMNS = ["image", "id", "mask", "rle", "height", "width", "empty_mask", "split"]


def _read_rle_csv(csv_path: Path, data: DataConfig, seg: TaskSection) -> UserCsv:
    needed = [(seg.id_col, "--id-col"), (seg.rle_col, "--rle-col")]
    needed += [(data.group_col, "--group-col")] if data.group_col else []
    needed += [(data.split_col, "--split-col")] if data.split_col else []
    table = read_user_csv(csv_path)
    # a CSV given as DATA is read as an RLE CSV (--task auto too): a classification user whose
    # labels it holds is told how to give them
    hint = None
    if not data.csv and data.label_col in table.df.columns:
        hint = f"a CSV of class labels is given as --csv {csv_path.name} --root IMAGES"
    check_columns(table, needed, hint=hint)
    if data.ignore_index is not None or data.mask_values != "auto":
        raise DataError(
            "--ignore-index and --mask-values read mask files; an RLE CSV holds binary masks "
            "(pixels in a run are foreground): drop them"
        )
    if seg.num_classes not in (None, 2) and not class_column(table.df.columns, seg):
        combined = read_rle_rows(
            table.df.head(50), seg.model_copy(update={"num_classes": None}), ""
        )
        if not combined.class_col:
            raise DataError(
                f"--num-classes {seg.num_classes} needs a class column in the RLE CSV (ClassId, "
                "or name it with --class-col); without one its masks are binary"
            )
    return table


def _resolve_ids(ids: list[str], root: Path, image_ext: str | None, csv_path: Path) -> list[Path]:
    """Image file for each CSV id: a path relative to root, a file name, or a name without
    extension (plus --image-ext), searched recursively under root."""
    by_name: dict[str, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for p in list_images(root, is_visionfit_dir).images:
        if p.is_file():
            by_name.setdefault(p.name, []).append(p)
            by_stem.setdefault(p.stem, []).append(p)
    ext = image_ext if not image_ext or image_ext.startswith(".") else "." + image_ext
    out: list[Path] = []
    missing: list[str] = []
    for image_id in ids:
        direct = root / image_id
        if ext and not image_id.lower().endswith(ext.lower()):
            direct = root / (image_id + ext)
        if direct.is_file():
            out.append(direct)
            continue
        name = Path(image_id).name
        found = by_name.get(name) or by_name.get(name + (ext or "")) or by_stem.get(name)
        if not found:
            missing.append(image_id)
            continue
        if len(found) > 1:  # e.g. train/images/x.png and train/masks/x.png: not the masks
            not_masks = [
                f
                for f in found
                if not any(part.lower() in MASKS_DIR_NAMES for part in f.relative_to(root).parts)
            ]
            found = not_masks if len(not_masks) == 1 else found
        if len(found) > 1:
            raise DataError(
                f"id {image_id!r} in {csv_path.name} matches several images under {root}: "
                f"{', '.join(str(f) for f in found[:3])}"
            )
        out.append(found[0])
    if missing:
        raise DataError(
            f"{len(missing)} of {len(ids)} ids in {csv_path.name} have no image under {root}, "
            f"e.g. {', '.join(missing[:3])} (set the image folder with --root)"
        )
    return out
