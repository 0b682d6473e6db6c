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
from visionfit.data.io import is_image_file
from visionfit.data.listing import list_images
from visionfit.data.mask_values import detect_mask_spec, rle_decisions
from visionfit.data.masks import (
    MASKS_DIR_NAMES,
    MaskSpec,
    size_mismatch_text,
)
from visionfit.data.rle import EMPTY_TOKENS, is_empty_rle, parse_rle
from visionfit.data.sources import split_values
from visionfit.errors import DataError
from visionfit.runs.kind import is_visionfit_dir
from visionfit.tasks.segmentation.folders import folder_pairs, mask_folder_parts
from visionfit.tasks.segmentation.pairs import (
    RleInfo,
    SegSamples,
    _is_empty,
    _skipped_text,
    scan_pairs,
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

    fmt = source_format(data)
    folder, csv = (None, None) if fmt else resolve_seg_data(data)
    if fmt:
        samples = read_format(fmt, data, seg, progress)
    elif csv is not None:
        samples = _from_rle_csv(csv, data, seg, progress)
    else:
        if data.group_col:
            raise DataError(
                "--group-col reads a column of an RLE CSV (--csv train.csv); mask folders have "
                "no column to read groups from"
            )
        samples = _from_mask_folders(folder, data, seg, progress, strict=strict)
    if samples.df.empty:
        left_out = samples.skipped + [(p, f"{r}: {d}") for p, r, d in samples.dropped]
        raise DataError("no usable image/mask pairs: " + _skipped_text(left_out))
    if seg.class_names or not samples.classes:  # coco and yolo name their classes
        samples.classes = _class_names(seg, samples.spec.num_classes)
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
) -> SegSamples:
    table = _read_rle_csv(csv_path, data, seg)
    raw = table.df
    root = Path(data.root) if data.root else csv_path.parent
    if not root.is_dir():
        raise DataError(f"image root folder not found: {root} (set it with --root)")
    groups = _rle_rows_per_image(raw, seg, csv_path.name)
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
    rows, skipped = [], []
    for (image_id, entries), path, scan in zip(groups.items(), paths, scans, strict=True):
        if scan.error:
            skipped.append((scan.bad_file, scan.error))
            continue
        _check_rle_fits(entries, scan.image_size, path, image_id, seg, csv_path.name)
        rle_rows = tuple(r for _, r in entries)
        rows.append(
            {
                "image": str(path.resolve()),
                "id": image_id,
                "mask": "",
                "rle": rle_rows,
                "height": scan.image_size[0],
                "width": scan.image_size[1],
                "empty_mask": all(is_empty_rle(r) for r in rle_rows),
                "split": split_of.get(image_id, ""),
            }
        )
    df = pd.DataFrame(
        rows, columns=["image", "id", "mask", "rle", "height", "width", "empty_mask", "split"]
    )
    if data.group_col:
        df["group"] = _image_groups(raw, seg.id_col, data.group_col, csv_path)[df["id"]].values
    n_multi = sum(len(v) > 1 for v in groups.values())
    notes = table.notes + ([f"{n_multi} images have several RLE rows (merged)"] if n_multi else [])
    return SegSamples(
        df=df,
        spec=MaskSpec(2, decisions=rle_decisions()),
        classes=[],
        layout="rle-csv",
        rle=_rle_info(raw[seg.rle_col], seg, groups),
        skipped=skipped,
        notes=notes,
    )


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
    if seg.num_classes not in (None, 2):
        raise DataError(
            "RLE CSVs are read as binary masks (one RLE column); --num-classes "
            f"{seg.num_classes} needs class-index mask files (DATA/images + DATA/masks)"
        )
    return table


def _rle_rows_per_image(
    raw: pd.DataFrame, seg: TaskSection, name: str
) -> dict[str, list[tuple[int, str]]]:
    """image id -> [(CSV line, RLE string)], every RLE string parsed once to check it."""
    groups: dict[str, list[tuple[int, str]]] = {}
    ids = raw[seg.id_col].str.strip()
    for line, (image_id, rle) in enumerate(zip(ids, raw[seg.rle_col], strict=True), start=2):
        if not image_id:
            raise DataError(f"{name} line {line}: empty {seg.id_col!r}")
        groups.setdefault(image_id, []).append((line, rle))
        parse_rle(rle, fmt=seg.rle_format, where=f"{name} line {line} ({image_id})")
    return groups


def _check_rle_fits(
    entries: list[tuple[int, str]],
    size: tuple[int, int],
    path: Path,
    image_id: str,
    seg: TaskSection,
    name: str,
) -> None:
    h, w = size
    for line, rle in entries:
        starts, lengths = parse_rle(rle, fmt=seg.rle_format)
        if len(starts) and int((starts + lengths).max()) > h * w:
            raise DataError(
                f"{name} line {line} ({image_id}): RLE runs past the last pixel of "
                f"{path.name} ({w}x{h} = {h * w} pixels); wrong --rle-format "
                f"({seg.rle_format}) or image?"
            )


def _rle_info(rles: pd.Series, seg: TaskSection, groups: dict) -> RleInfo:
    """How the CSV writes its masks, so that predictions are written back the same way."""
    stripped = rles.str.strip()
    if (stripped == "-1").any():
        empty_token = "-1"
    elif (stripped == "").any():
        empty_token = ""
    else:
        empty_token = EMPTY_TOKENS[seg.rle_format]
    return RleInfo(
        fmt=seg.rle_format,
        order=seg.rle_order,
        id_col=seg.id_col,
        rle_col=seg.rle_col,
        empty=empty_token,
        id_with_ext=all(is_image_file(i) for i in groups),
    )


def _image_groups(raw: pd.DataFrame, id_col: str, group_col: str, csv_path: Path) -> pd.Series:
    """One group id per image id (e.g. a patient); the rows of one image must agree."""
    pairs = raw[[id_col, group_col]].apply(lambda c: c.str.strip())
    if (pairs[group_col] == "").any():
        line = int(pairs.index[pairs[group_col] == ""][0]) + 2
        raise DataError(f"{csv_path.name} line {line}: empty {group_col!r} (every image needs one)")
    per_image = pairs.groupby(id_col)[group_col].agg(lambda g: sorted(set(g)))
    torn = per_image[per_image.map(len) > 1]
    if len(torn):
        raise DataError(
            f"{csv_path.name}: image {torn.index[0]!r} has rows in several groups "
            f"({', '.join(torn.iloc[0])}); one image belongs to one group"
        )
    return per_image.map(lambda g: g[0])


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
