"""Data health: decode every image fully, name every file that cannot be used, describe the rest.

`visionfit check DATA` prints the report and can write it as JSON; `visionfit train` runs the same
scan (cached) first and leaves the unusable files out (`drop_unusable`).

>>> from visionfit.config import DataConfig
>>> report = check_dataset(DataConfig(path="data/"))
>>> report.usable, report.counts["bad"], report.bad_files[:1]
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from visionfit.config import DataConfig
from visionfit.data.conflicts import HOW_TO_DECIDE
from visionfit.data.conflicts import describe as describe_conflicts
from visionfit.data.duplicates import (  # noqa: F401 (leakage_groups re-exported)
    duplicate_groups,
    leakage_groups,
    split_leakage,
)
from visionfit.data.highbit import depth_label, depth_notes
from visionfit.data.name_labels import UNLABELLED
from visionfit.data.neardup import near_warnings
from visionfit.data.scan import (  # noqa: F401 (scan_files and default_threads re-exported)
    FileScan,
    ScanCache,
    ScanResult,
    default_threads,
    scan_files,
)
from visionfit.data.sources import Samples, load_samples
from visionfit.errors import DataError
from visionfit.text import plural as _n

# ------------------------------------------------------------------------------------------------
# Training: leave the unusable files out


SKIPPED_COLUMNS = ["image", "label", "reason", "detail"]


@dataclass
class UsableSamples:
    samples: Samples  # only files that decode
    skipped: pd.DataFrame  # SKIPPED_COLUMNS: bad files and CSV rows whose file is missing
    scan: ScanResult


def drop_unusable(samples: Samples, cfg: DataConfig, *, progress: bool = False) -> UsableSamples:
    """Scan `samples` (cached), drop files that cannot be decoded and say which and why.

    Raises DataError when no usable image is left or a class is left without images. The
    user's label edits (`--exclude` / `--relabel`, data/label_edits.py) are applied first: the
    excluded images are listed with reason "excluded".
    """
    samples, excluded = _with_label_edits(samples, cfg)
    scan = scan_files(list(samples.df["image"]), max_pixels=cfg.max_pixels, progress=progress)
    bad = {f.image: f for f in scan.files if not f.ok}
    df = samples.df
    keep = ~df["image"].isin(bad.keys())
    rows = [
        (img, label, bad[img].reason, bad[img].detail)
        for img, label in zip(df.loc[~keep, "image"], df.loc[~keep, "label"], strict=True)
    ]
    rows += [
        (img, label, "missing", "CSV row " + str(line)) for line, img, label in samples.missing_rows
    ]
    rows += [(img, "", UNLABELLED, why) for img, why in samples.unlabelled]
    rows += list(samples.left_out)  # table rows: null image, no label, missing file
    skipped = pd.DataFrame(rows, columns=SKIPPED_COLUMNS)
    if len(excluded):
        skipped = pd.concat([skipped, excluded], ignore_index=True)
    skipped = skipped.drop_duplicates("image")
    kept = df[keep].reset_index(drop=True)
    given = set(samples.df["split"]) - {""}  # the splits the layout gives
    _require_usable(kept, samples.classes, len(bad) + len(samples.missing_rows), given)
    usable = Samples(
        df=kept,
        classes=samples.classes,
        layout=samples.layout,
        ignored_files=samples.ignored_files,
        notes=list(samples.notes),
        missing_rows=samples.missing_rows,
        empty_label_rows=samples.empty_label_rows,
        conflicts=samples.conflicts,
        unlabelled=samples.unlabelled,
        left_out=samples.left_out,
    )
    return UsableSamples(usable, skipped.reset_index(drop=True), scan)


def _with_label_edits(samples: Samples, cfg: DataConfig) -> tuple[Samples, pd.DataFrame]:
    from dataclasses import replace

    from visionfit.data.label_edits import apply_label_edits, edits_note, read_label_edits

    edits = read_label_edits(cfg.exclude, cfg.relabel)
    if not edits:
        return samples, pd.DataFrame(columns=SKIPPED_COLUMNS)
    df, excluded = apply_label_edits(samples.df, samples.classes, edits)
    notes = [*samples.notes, edits_note(samples.df, edits, len(excluded))]
    return replace(samples, df=df, notes=notes), excluded


def _require_usable(df: pd.DataFrame, classes: list[str], n_bad: int, given=frozenset()) -> None:
    hint = " (see `visionfit check` for every file and its reason)"
    if df.empty:
        raise DataError(f"no usable images: all {n_bad} files are unreadable{hint}")
    empty = [c for c in classes if not (df["label"] == c).any()]
    if empty:
        raise DataError(
            f"class(es) left without usable images: {', '.join(empty[:10])}; "
            f"their files are all unreadable{hint}"
        )
    if (df["split"] != "").any():
        for split in sorted(set(given) | {"train"}):
            if not (df["split"] == split).any():
                raise DataError(f"the {split} split has no usable images{hint}")


# ------------------------------------------------------------------------------------------------
# The report


@dataclass
class CheckReport:
    """Everything `visionfit check` found; `to_dict()` is the JSON report."""

    data: dict
    layout: str
    usable: bool
    problems: list[str]  # why the data cannot be used (empty when usable)
    warnings: list[str]
    counts: dict
    bad_files: list[dict]
    bad_by_reason: dict[str, int]
    missing_rows: list[dict]
    empty_label_rows: list[dict]
    conflicting_labels: list[dict]  # CSV files given two labels: image, labels, lines
    classes: dict[str, int]
    class_counts_by_split: dict[str, dict[str, int]]
    imbalance_ratio: float | None
    sizes: dict[str, int]
    size_stats: dict
    modes: dict[str, int]
    bit_depths: dict[str, int]  # "8-bit", "16-bit (values in the low 12 bits)", ... (highbit.py)
    channels: dict[str, int]  # channel count as stored (8-bit images Pillow reads: 3)
    formats: dict[str, int]
    exif_rotations: dict[str, int]
    duplicates: list[dict]
    leakage: list[dict]
    leakage_split: str
    # near-duplicate pairs (data/neardup.py): {} with --no-near-duplicates
    near_duplicates: dict = field(default_factory=dict)
    scan: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)  # a task's own part of the report

    def to_dict(self) -> dict:
        near = self.near_duplicates
        out = asdict(replace(self, near_duplicates={}))  # the pairs without copying them first
        out["near_duplicates"] = {**near, "pairs": list(near["pairs"])} if near else {}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def check_dataset(
    cfg: DataConfig,
    *,
    seed: int = 42,
    progress: bool = False,
    use_cache: bool = True,
    threads: int | None = None,
    samples: Samples | None = None,
    classes_required: bool = True,
) -> CheckReport:
    """Scan the dataset described by `cfg` and describe it; nothing in the dataset is written.

    `samples`: the table a task read (default: classification's layouts). With
    `classes_required` a class without usable images makes the data unusable.
    Raises DataError only when the dataset cannot even be listed (no folder, CSV columns
    missing, ...); unusable files and rows are reported, not raised.
    """
    if samples is None:
        samples = load_samples(
            cfg, missing_files="skip", empty_labels="skip", report_conflicts=True
        )
    cache = ScanCache.open({"max_pixels": cfg.max_pixels}) if use_cache else ScanCache.disabled()
    with cache:
        scan = scan_files(
            list(samples.df["image"]),
            max_pixels=cfg.max_pixels,
            threads=threads,
            progress=progress,
            cache=cache,
        )
    return build_report(samples, scan, cfg, seed=seed, classes_required=classes_required)


def build_report(
    samples: Samples,
    scan: ScanResult,
    cfg: DataConfig,
    *,
    seed: int,
    classes_required: bool = True,
) -> CheckReport:
    """The report of one scan: one pass over the report's sections, each a named step."""
    info = scan.by_image()
    df = samples.df
    usable_df = df[df["image"].map(lambda p: info[p].ok)].reset_index(drop=True)
    bad = [f for f in scan.files if not f.ok]
    labels = dict(zip(df["image"], df["label"], strict=True))
    good = [info[p] for p in usable_df["image"]]
    classes, by_split = _class_counts(samples, usable_df)
    imbalance = _imbalance(classes)
    problems = _problems(usable_df, len(bad), classes, by_split, classes_required, samples)
    duplicates = duplicate_groups(good, labels)
    conflicts = sum(1 for d in duplicates if len(d["labels"]) > 1)
    leakage, leakage_split, near = split_leakage(
        samples, usable_df, good, cfg, seed, blocked=problems
    )
    rotations = Counter(str(f.exif_orientation) for f in good if f.exif_rotated)
    notes = list(samples.notes) + _warnings(
        samples, len(bad), duplicates, conflicts, len(leakage), imbalance, near, good
    )
    counts = {
        "listed": len(df) + _n_rows_left_out(samples),
        "scanned": len(df),
        "usable": len(usable_df),
        "bad": len(bad),
        "ignored_by_extension": samples.ignored_files,
        "missing_rows": len(samples.missing_rows),
        "empty_label_rows": len(samples.empty_label_rows),
        "unlabelled": len(samples.unlabelled),
        "table_rows_left_out": len(samples.left_out),
        "conflicting_label_files": len(samples.conflicts),
        "exif_rotated": sum(rotations.values()),
        **_dicom_counts(good),
        "duplicate_groups": len(duplicates),
        "duplicate_label_conflicts": conflicts,
        "leakage_groups": len(leakage),
        **{f"near_duplicate_{k}": v for k, v in near.get("counts", {}).items()},
    }
    return CheckReport(
        data={"path": cfg.path, "csv": cfg.csv, "root": cfg.root, "max_pixels": cfg.max_pixels},
        layout=samples.layout,
        usable=not problems,
        problems=problems,
        warnings=notes,
        counts=counts,
        bad_files=_bad_files(bad, labels, samples),
        bad_by_reason=dict(Counter(_reasons(bad, samples)).most_common()),
        missing_rows=[
            {"line": line, "image": img, "label": lab} for line, img, lab in samples.missing_rows
        ],
        empty_label_rows=[{"line": line, "image": img} for line, img in samples.empty_label_rows],
        conflicting_labels=list(samples.conflicts),
        classes=classes,
        class_counts_by_split=by_split,
        imbalance_ratio=imbalance,
        sizes=dict(Counter(f"{f.width}x{f.height}" for f in good).most_common()),
        size_stats=_size_stats(good),
        modes=dict(Counter(f.mode for f in good).most_common()),
        **_depths(good),
        formats=dict(Counter(f.format for f in good).most_common()),
        exif_rotations=dict(sorted(rotations.items())),
        duplicates=duplicates,
        leakage=leakage,
        leakage_split=leakage_split,
        near_duplicates=near,
        scan={
            "seconds": round(scan.seconds, 3),
            "decoded": scan.decoded,
            "cached": scan.cached,
            "cache": scan.cache_note or "used",
        },
    )


def _imbalance(classes: dict[str, int]) -> float | None:
    """The largest class over the smallest non-empty one."""
    nonzero = [n for n in classes.values() if n > 0]
    return round(max(nonzero) / min(nonzero), 3) if nonzero else None


def _dicom_counts(good: list[FileScan]) -> dict[str, int]:
    """DICOM files and their distinct PatientIDs (train's default groups: data/dicom.py)."""
    patients = {f.patient for f in good if f.patient}
    return {"dicom_files": sum(f.format == "DICOM" for f in good), "dicom_patients": len(patients)}


def _n_rows_left_out(samples: Samples) -> int:
    """Listed rows the scan never saw: missing files, empty labels, unlabelled names, table
    rows left out."""
    return (
        len(samples.missing_rows)
        + len(samples.empty_label_rows)
        + len(samples.unlabelled)
        + len(samples.left_out)
    )


def _reasons(bad: list[FileScan], samples: Samples) -> list[str]:
    """One reason per unusable file or row."""
    unlabelled = [UNLABELLED] * len(samples.unlabelled)
    return [f.reason for f in bad] + unlabelled + [r[2] for r in samples.left_out]


def _bad_files(bad: list[FileScan], labels: dict[str, str], samples: Samples) -> list[dict]:
    """Unusable files (image, label, reason, detail): those that do not decode, then those
    --label-from-name gives no label."""
    rows = [
        {"image": f.image, "label": labels.get(f.image, ""), "reason": f.reason, "detail": f.detail}
        for f in sorted(bad, key=lambda f: f.image)
    ]
    rows += [
        {"image": img, "label": "", "reason": UNLABELLED, "detail": why}
        for img, why in samples.unlabelled
    ]
    rows += [
        {"image": img, "label": label, "reason": reason, "detail": detail}
        for img, label, reason, detail in samples.left_out
    ]
    return rows


def _class_counts(
    samples: Samples, usable_df: pd.DataFrame
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Usable images per class, overall and per given split."""
    classes = {c: int((usable_df["label"] == c).sum()) for c in samples.classes}
    by_split: dict[str, dict[str, int]] = {}
    if samples.has_split:
        for split in [p for p in ("train", "val", "test") if (samples.df["split"] == p).any()]:
            part = usable_df[usable_df["split"] == split]
            by_split[split] = {c: int((part["label"] == c).sum()) for c in samples.classes}
    return classes, by_split


def _problems(
    usable_df: pd.DataFrame,
    n_bad: int,
    classes: dict[str, int],
    by_split: dict[str, dict[str, int]],
    classes_required: bool,
    samples: Samples,
) -> list[str]:
    """What makes the data unusable for training."""
    problems = _row_problems(samples)
    if usable_df.empty:
        problems.append(f"no usable images ({n_bad} unreadable files)")
    elif classes_required:
        empty = [c for c, n in classes.items() if n == 0]
        if empty:
            problems.append(f"class(es) without usable images: {', '.join(empty)}")
        if sum(n > 0 for n in classes.values()) < 2:
            problems.append("fewer than two classes have usable images")
    for split, counts in by_split.items():
        if not usable_df.empty and sum(counts.values()) == 0:
            problems.append(f"the {split} split has no usable images")
    return problems


def _row_problems(samples: Samples) -> list[str]:
    """CSV rows train refuses: an empty label, one file given two labels (data/conflicts.py)."""
    problems = []
    if samples.empty_label_rows:
        lines = [str(line) for line, _ in samples.empty_label_rows[:5]]
        more = ", ..." if len(samples.empty_label_rows) > 5 else ""
        problems.append(
            f"{_n(len(samples.empty_label_rows), 'CSV row')} with an empty label (lines "
            f"{', '.join(lines)}{more}): train refuses them; fix or drop those rows"
        )
    if samples.conflicts:
        problems.append(
            f"conflicting labels in the CSV for {_n(len(samples.conflicts), 'file')}: "
            f"{describe_conflicts(samples.conflicts)}; {HOW_TO_DECIDE}"
        )
    return problems


def _depths(good: list[FileScan]) -> dict[str, dict[str, int]]:
    """The report's bit depths and channel counts (data/highbit.py's labels)."""
    return {
        "bit_depths": dict(Counter(depth_label(f.dtype, f.bits) for f in good).most_common()),
        "channels": dict(Counter(str(f.channels) for f in good).most_common()),
    }


def _size_stats(good: list[FileScan]) -> dict[str, dict]:
    widths = np.array([f.width for f in good]) if good else np.zeros(0)
    heights = np.array([f.height for f in good]) if good else np.zeros(0)
    return {
        name: (
            {"min": int(v.min()), "median": float(np.median(v)), "max": int(v.max())}
            if len(v)
            else {}
        )
        for name, v in (("width", widths), ("height", heights))
    }


def _warnings(
    samples: Samples,
    n_bad: int,
    duplicates: list[dict],
    conflicts: int,
    n_leakage: int,
    imbalance: float | None,
    near: dict,
    good: list[FileScan],
) -> list[str]:
    """The report's warnings: usable data, but something to look at."""
    notes = []
    if n_bad:
        notes.append(f"{_n(n_bad, 'file')} cannot be used; `train` leaves them out")
    if samples.missing_rows:
        notes.append(f"CSV rows whose file is missing: {len(samples.missing_rows)}")
    if samples.left_out:
        notes.append(
            f"{_n(len(samples.left_out), 'table row')} left out ({samples.left_out[0][3]}); "
            "`train` leaves them out"
        )
    if samples.unlabelled:
        notes.append(
            f"{_n(len(samples.unlabelled), 'file')} without a label ({samples.unlabelled[0][1]}); "
            "`train` leaves them out"
        )
    if duplicates:
        extra = sum(len(d["images"]) - 1 for d in duplicates)
        notes.append(
            f"{_n(len(duplicates), 'group')} of identical files ({_n(extra, 'extra copy')})"
        )
    if conflicts:
        notes.append(f"{_n(conflicts, 'group')} of identical files with different labels")
    if n_leakage:
        notes.append(f"{_n(n_leakage, 'group')} of identical files in both train and val (leakage)")
    if imbalance is not None and imbalance >= 10:
        notes.append(f"classes are imbalanced: the largest is {imbalance:g}x the smallest")
    return notes + near_warnings(near) + depth_notes(_depths(good)["bit_depths"])
