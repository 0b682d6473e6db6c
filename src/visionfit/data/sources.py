"""Turn the layouts people have (class folders, train/val folders, a CSV) into one samples table.

Every later step works from `Samples.df`, with columns:
  image  absolute path of the image file
  label  class name (string)
  target integer class index into `Samples.classes`
  split  "train", "val", "test", or "" when no split was given
  group  (only with --group-col) the sample's group id, e.g. a patient
  targets (only for multi-label / soft labels, see data/labels.py) a float vector per image
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from visionfit.config import DataConfig
from visionfit.data.conflicts import resolve_conflicts
from visionfit.data.labels import ColumnReader, parse_vector_labels, sorted_classes
from visionfit.data.listing import SkipDir, StoredPaths, list_images, skipped_dirs_note
from visionfit.data.misread import refuse_nested_classes, refuse_segmentation_layout
from visionfit.data.name_labels import NameLabels, csv_name_labels, named_files, unify_case
from visionfit.errors import DataError
from visionfit.usercsv import UserCsv, read_user_csv

# Folder names (and --split-col values) read as splits, lower-cased; every other folder is a class
SPLIT_DIR_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


@dataclass
class Samples:
    df: pd.DataFrame
    classes: list[str]
    layout: str  # "folders", "split-folders", "file-names", "split-file-names" or "csv"
    ignored_files: int = 0  # files skipped because their extension is not an image's
    notes: list[str] = field(default_factory=list)
    label_kind: str = "single"  # "single", "multilabel" or "soft" (with a `targets` column)
    # Only filled when load_samples is asked to skip instead of raising (see its arguments):
    missing_rows: list[tuple[int, str, str]] = field(default_factory=list)  # (line, image, label)
    empty_label_rows: list[tuple[int, str]] = field(default_factory=list)  # (line, image)
    # CSV files given two labels, left out (load_samples' report_conflicts): image, labels, lines
    conflicts: list[dict] = field(default_factory=list)
    # --label-from-name: files whose name gives no label, left out: (image, why)
    unlabelled: list[tuple[str, str]] = field(default_factory=list)
    # Table rows left out before the scan (data/tables.py: null image, no label, a missing
    # file): (image or "file#row", label, reason, detail), listed in skipped.csv and by check
    left_out: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def has_split(self) -> bool:
        return bool((self.df["split"] != "").any())


def load_samples(
    cfg: DataConfig,
    *,
    missing_files: str = "error",
    empty_labels: str = "error",
    label_columns: ColumnReader | None = None,
    skip_dir: SkipDir | None = None,
    report_conflicts: bool = False,
) -> Samples:
    """Read the dataset described by `cfg` into a samples table (nothing is written).

    CSV rows whose file is missing (`missing_files`) or whose label is empty (`empty_labels`)
    raise a DataError ("error") or are left out and listed in `Samples.missing_rows` /
    `Samples.empty_label_rows` ("skip"). A CSV whose files are all missing always raises.
    `label_columns`: what numeric `--label-cols` mean (the task's label mode says; default 0/1
    per label). `skip_dir`: folders a folder layout does not read (the tasks pass runs/kind.py's
    `is_visionfit_dir`: run and cache folders inside the data); each is named in the notes.
    A CSV file given two labels is resolved as `cfg.conflicting_labels` says; for "error" it
    raises, or with `report_conflicts` (check) is left out and listed in `Samples.conflicts`.
    """
    fmt = _table_format(cfg)
    if fmt is not None:
        samples = _from_table(cfg, fmt)
        resolve_conflicts(samples, cfg.conflicting_labels, report=report_conflicts)
    elif cfg.csv:
        samples = _from_csv(
            cfg, missing_files=missing_files, empty_labels=empty_labels, read_columns=label_columns
        )
        resolve_conflicts(samples, cfg.conflicting_labels, report=report_conflicts)
    elif cfg.label_cols or cfg.label_delim is not None or cfg.group_col or cfg.split_col:
        raise DataError(
            "--label-cols, --label-delim, --group-col and --split-col read CSV columns: "
            "give the labels with --csv FILE --root DIR"
        )
    elif cfg.path:
        names = NameLabels(cfg.label_from_name) if cfg.label_from_name else None
        samples = _from_folders(Path(cfg.path), skip_dir, names)
    else:
        raise DataError("no data given: pass a folder (DATA) or --csv train.csv --root DIR")
    if len(samples.classes) < 2:
        raise DataError(
            f"found only {len(samples.classes)} class ({', '.join(samples.classes)}): "
            "classification needs at least two"
        )
    return samples


def _table_format(cfg: DataConfig) -> str | None:
    """ "parquet" or "hf" when DATA is such a table (`--format`, or detected), else None."""
    from visionfit.data.tables import TABLE_FORMATS, table_format

    if cfg.format in TABLE_FORMATS:
        if cfg.csv or not cfg.path:
            raise DataError(f"--format {cfg.format} reads DATA (a path), not --csv")
        return cfg.format
    if cfg.format != "auto" or cfg.csv or cfg.label_from_name:
        return None  # another task's format, or a layout named by its options
    return table_format(cfg.path)


def _from_table(cfg: DataConfig, fmt: str) -> Samples:
    """A Parquet / `datasets` table as a samples table: every row an image file (embedded
    bytes written once to the store, data/table_store.py) and its class."""
    from visionfit.data.tables import read_table, table_frame

    if cfg.label_cols or cfg.label_delim is not None or cfg.group_col or cfg.split_col:
        raise DataError(
            f"--label-cols, --label-delim, --group-col and --split-col read CSV columns, not "
            f"a {fmt} table: give one image column and one label column"
        )
    defaults = (
        DataConfig.model_fields["image_col"].default,
        DataConfig.model_fields["label_col"].default,
    )
    t = read_table(
        cfg.path,
        fmt,
        image_col=cfg.image_col,
        label_col=cfg.label_col,
        defaults=defaults,
        root=cfg.root,
    )
    if not t.images:
        why = t.left_out[0][3] if t.left_out else "the table is empty"
        raise DataError(f"no usable row in {cfg.path} ({len(t.left_out)} left out; {why})")
    df, classes, notes = table_frame(t, SPLIT_DIR_NAMES)
    df["line"] = range(1, len(df) + 1)  # resolve_conflicts names repeated files by row
    return Samples(
        df=df[["image", "label", "target", "split", "row", "line"]],
        classes=classes,
        layout=fmt,
        notes=notes,
        left_out=t.left_out,
    )


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _from_folders(
    root: Path, skip_dir: SkipDir | None = None, names: NameLabels | None = None
) -> Samples:
    """Class folders (or, with `names`, labels from file names), split by train/val/test
    folders when DATA holds a train folder and a val or test one."""
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        hint = " (for a CSV use --csv FILE --root DIR)" if root.suffix.lower() == ".csv" else ""
        raise DataError(f"expected a folder of images, got a file: {root}{hint}")
    subdirs = _visible_dirs(root)
    skipped: list[Path] = []
    unlabelled: list[tuple[str, str]] = []

    def read(folder: Path) -> tuple[pd.DataFrame, int]:
        if names is None:
            return _class_folders(folder, skip_dir, skipped)
        return named_files(folder, skip_dir, skipped, names, unlabelled)

    split_dirs = {
        d: SPLIT_DIR_NAMES[d.name.lower()] for d in subdirs if d.name.lower() in SPLIT_DIR_NAMES
    }
    if "train" in split_dirs.values() and {"val", "test"} & set(split_dirs.values()):
        rows, ignored, classes_per_split = [], 0, {}
        for d, split in split_dirs.items():
            part, n_ignored = read(d)
            ignored += n_ignored
            classes_per_split[d.name] = set(part["label"])
            part["split"] = split
            rows.append(part)
        df = pd.concat(rows, ignore_index=True)
        if names is not None:  # Cat in train/, cat in val/: one class
            df["label"] = unify_case(list(df["label"]))
        train_classes = set(df.loc[df["split"] == "train", "label"])
        unseen = sorted(set(df["label"]) - train_classes)
        if unseen:
            raise DataError(f"classes in the val/ or test/ folder but not in train/: {unseen}")
        layout = "split-folders"
    else:
        df, ignored = read(root)
        df["split"] = ""
        layout = "folders"
    if names is not None:
        names.require_some(len(df), [u for u, _ in unlabelled] + list(df["image"]))
        layout = {"folders": "file-names", "split-folders": "split-file-names"}[layout]
    classes = sorted_classes(df["label"])
    df["target"] = df["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    return Samples(
        df=df[["image", "label", "target", "split"]],
        classes=classes,
        layout=layout,
        ignored_files=ignored,
        notes=skipped_dirs_note(skipped, root),
        unlabelled=unlabelled,
    )


def _class_folders(
    root: Path, skip_dir: SkipDir | None, skipped: list[Path]
) -> tuple[pd.DataFrame, int]:
    """(image, label) rows of root/<class>/**; folders `skip_dir` refuses are added to `skipped`
    and not read, and a folder holding nothing but such folders (`runs/`) is no class."""
    subdirs = []
    for d in _visible_dirs(root):
        if skip_dir is not None and skip_dir(d):
            skipped.append(d)
        else:
            subdirs.append(d)
    if not subdirs:
        loose = list_images(root, skip_dir).images
        if loose:
            raise DataError(
                f"{root} holds {len(loose)} images but no class folders: put each class's "
                f"images in its own sub-folder ({root}/<class>/*.png), give labels with --csv, "
                "or take them from the file names with --label-from-name REGEX (images with "
                "masks beside them, x.png + x_mask.png: --task segment)"
            )
        raise DataError(f"no images found in {root}: expected {root}/<class>/*.png|jpg|...")
    refuse_segmentation_layout(root, subdirs)
    rows, ignored, stored = [], 0, StoredPaths()
    empty, unreadable = [], []
    nested: dict[str, set[str]] = {}  # class folder -> its sub-folders, when it holds no image
    with_images = 0
    for d in subdirs:
        listing = list_images(d, skip_dir)
        with_images += bool(listing.images)
        if listing.images and all(p.parent != d for p in listing.images):
            nested[d.name] = {p.relative_to(d).parts[0] for p in listing.images}
        images, n_ignored = listing.images, listing.ignored
        if not images and listing.skipped_dirs:
            skipped.append(d)  # nothing but runs in it: a folder of runs, not a class
            continue
        ignored += n_ignored
        skipped.extend(listing.skipped_dirs)
        if not images:
            (unreadable if listing.unreadable_dirs else empty).append(d.name)
            why = listing.unreadable_dirs[0][1].lower() if listing.unreadable_dirs else ""
        rows.extend((stored(p), d.name) for p in images)
    refuse_nested_classes(root, nested, with_images)
    if unreadable:
        raise DataError(
            f"class folder(s) in {root} cannot be read ({why}): {', '.join(unreadable[:10])} "
            "(give yourself read access, or move them out of the data)"
        )
    if empty and len(empty) == len(subdirs):
        raise DataError(f"no images found in the class folders of {root} ({', '.join(empty[:5])})")
    if empty:
        raise DataError(
            f"class folder(s) without images in {root}: {', '.join(empty[:10])} "
            "(remove them or add images; image types: png jpg jpeg bmp tif tiff webp dcm)"
        )
    return pd.DataFrame(rows, columns=["image", "label"]), ignored


def _from_csv(
    cfg: DataConfig,
    *,
    missing_files: str = "error",
    empty_labels: str = "error",
    read_columns: ColumnReader | None = None,
) -> Samples:
    table = _read_labels_csv(cfg)
    raw, csv_path = table.df, table.path
    root = Path(cfg.root) if cfg.root else csv_path.parent
    if not root.is_dir():
        raise DataError(f"image root folder not found: {root} (set it with --root)")
    vector = bool(cfg.label_cols) or cfg.label_delim is not None
    paths = _csv_image_paths(raw[cfg.image_col], root, cfg.image_ext)
    if cfg.label_from_name:
        labels, unlabelled = csv_name_labels(paths, raw.index, cfg, vector)
    else:
        labels = None if cfg.label_cols else raw[cfg.label_col].str.strip()
        unlabelled = pd.Series(False, raw.index)
    no_label = (labels == "") & ~unlabelled if labels is not None and not vector else unlabelled
    if no_label.any() and empty_labels != "skip":
        rows = [str(i + 2) for i in raw.index[no_label][:5]]  # +2: header line, 1-based
        raise DataError(
            f"{int(no_label.sum())} CSV rows have an empty {cfg.label_col!r} "
            f"(lines {', '.join(rows)}{', ...' if no_label.sum() > 5 else ''})"
        )
    # a pipe, a device or a folder exists: the scan reports it ("unreadable: not a regular
    # file"); only a path with nothing there (or a broken link) is "missing"
    exists = [p.exists() for p in paths]
    _check_missing_files(paths, exists, cfg.image_ext, refuse=missing_files != "skip")
    keep = pd.Series(exists, index=raw.index) & ~no_label & ~unlabelled
    if not keep.any():
        raise DataError(f"no CSV row of {csv_path} has both a label and an existing file")
    images = [str(p.resolve()) for p in paths]
    if vector:
        kept_images = [im for im, k in zip(images, keep, strict=True) if k]
        rows = raw[keep].reset_index(drop=True)
        samples = _vector_samples(rows, kept_images, cfg, csv_path.name, read_columns)
    else:
        samples = _single_label_samples(images, labels, no_label | unlabelled, keep)
    samples.notes = table.notes + samples.notes
    samples.missing_rows, samples.empty_label_rows = _left_out_rows(paths, exists, labels, no_label)
    if cfg.label_from_name:
        why = NameLabels(cfg.label_from_name).detail
        samples.unlabelled = [
            (str(p.resolve()), why)
            for p, u, e in zip(paths, unlabelled, exists, strict=True)
            if u and e
        ]
    _add_split_and_group(samples, raw[keep], cfg, csv_path.name)
    samples.df["line"] = [i + 2 for i in raw.index[keep]]  # CSV lines (header: 1)
    return samples


def _read_labels_csv(cfg: DataConfig) -> UserCsv:
    """The --csv file, with the columns the options name (each error names its option)."""
    needed = [(cfg.image_col, "--image-col")]
    needed += [] if cfg.label_cols or cfg.label_from_name else [(cfg.label_col, "--label-col")]
    needed += [(cfg.group_col, "--group-col")] if cfg.group_col else []
    needed += [(cfg.split_col, "--split-col")] if cfg.split_col else []
    return read_user_csv(cfg.csv, required=needed)


def _csv_image_paths(names: pd.Series, root: Path, image_ext: str | None) -> list[Path]:
    """Each row's image file: relative names under `root`, `image_ext` added to bare ids."""
    ext = image_ext
    if ext and not ext.startswith("."):
        ext = "." + ext
    paths = []
    for name in names.str.strip():
        p = Path(name)
        if ext and p.suffix.lower() != ext.lower():
            p = p.with_name(p.name + ext)
        paths.append(p if p.is_absolute() else root / p)
    return paths


def _check_missing_files(
    paths: list[Path], exists: list[bool], image_ext: str | None, *, refuse: bool
) -> None:
    """Raise for rows whose file is missing (always when every file is)."""
    missing = [str(p) for p, ok in zip(paths, exists, strict=True) if not ok]
    if missing and (refuse or len(missing) == len(paths)):
        hint = ""
        if not image_ext and all(Path(m).suffix == "" for m in missing[:5]):
            hint = " (ids without extension? add --image-ext .png)"
        raise DataError(
            f"{len(missing)} of {len(paths)} CSV rows point to missing files, e.g. "
            f"{', '.join(missing[:3])}{hint}"
        )


def _left_out_rows(
    paths: list[Path], exists: list[bool], labels: pd.Series | None, no_label: pd.Series
) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """Rows left out in "skip" mode: (line, image, label) with a missing file, (line, image) with
    no label. Line numbers count the header as line 1."""
    label_values = labels if labels is not None else pd.Series("", index=no_label.index)
    missing_rows = [
        (i + 2, str(p), lab)
        for i, (p, ok, lab, empty) in enumerate(
            zip(paths, exists, label_values, no_label, strict=True)
        )
        if not ok and not empty
    ]
    empty_rows = [(i + 2, str(p)) for i, p in enumerate(paths) if no_label.iloc[i]]
    return missing_rows, empty_rows


def _single_label_samples(
    images: list[str], labels: pd.Series, no_label: pd.Series, keep: pd.Series
) -> Samples:
    df = pd.DataFrame({"image": images, "label": labels.values})
    # Classes come from every labelled row, so that a class whose files are all missing is
    # reported as empty instead of vanishing.
    classes = sorted_classes(df.loc[~no_label.values, "label"])
    df = df[keep.values].reset_index(drop=True)
    df["target"] = df["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    df["split"] = ""
    return Samples(df=df, classes=classes, layout="csv")


def _add_split_and_group(samples: Samples, kept: pd.DataFrame, cfg: DataConfig, name: str) -> None:
    """The --split-col and --group-col values of the kept rows."""
    if cfg.split_col:
        samples.df["split"] = split_values(kept[cfg.split_col], name).values
    if cfg.group_col:
        groups = kept[cfg.group_col].str.strip()
        if (groups == "").any():
            raise DataError(
                f"{int((groups == '').sum())} CSV rows have an empty {cfg.group_col!r} "
                "(every image needs a group id for group folds)"
            )
        samples.df["group"] = groups.values


def split_values(column: pd.Series, csv_name: str) -> pd.Series:
    """A CSV split column as train / val / test ("" where empty: drawn like an unsplit row)."""
    values = column.str.strip().str.lower()
    names = {**SPLIT_DIR_NAMES, "": ""}
    bad = sorted(set(values) - set(names))
    if bad:
        raise DataError(
            f"--split-col {column.name!r} of {csv_name} has values {bad[:5]}: use train, val "
            "(or valid, validation) and test, or leave a cell empty"
        )
    return values.map(names)


def _vector_samples(
    raw: pd.DataFrame,
    images: list[str],
    cfg: DataConfig,
    name: str,
    read_columns: ColumnReader | None,
) -> Samples:
    v = parse_vector_labels(raw, cfg, name, read_columns)
    df = pd.DataFrame({"image": images, "label": v.label, "target": v.target, "split": ""})
    if v.targets is not None:
        df["targets"] = list(v.targets)
    return Samples(df=df, classes=v.classes, layout="csv", notes=v.notes, label_kind=v.kind)
