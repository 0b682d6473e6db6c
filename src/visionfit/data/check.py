"""Data health: decode every image fully, name every file that cannot be used, describe the rest.

`visionfit check DATA` prints the report and can write it as JSON; `visionfit train` runs the same
scan (cached) first and leaves the unusable files out (`drop_unusable`).

>>> from visionfit.config import DataConfig
>>> report = check_dataset(DataConfig(path="data/"))
>>> report.usable, report.counts["bad"], report.bad_files[:1]
"""

from __future__ import annotations

import json
import os
import stat
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from visionfit.config import DataConfig
from visionfit.data.io import ImageDecodeError, file_sha1, open_image, to_array
from visionfit.data.scan_cache import ScanCache, file_key
from visionfit.data.sources import Samples, load_samples
from visionfit.data.splits import holdout_split
from visionfit.errors import DataError

_EXIF_ORIENTATION = 0x0112


@dataclass
class FileScan:
    """What the scan found out about one file."""

    image: str
    ok: bool
    reason: str = ""  # an ImageDecodeError reason when not ok
    detail: str = ""
    bytes: int = 0
    width: int = 0  # as decoded, after the EXIF rotation
    height: int = 0
    mode: str = ""  # Pillow mode of the stored image (RGB, L, P, I;16, CMYK, ...)
    format: str = ""
    exif_orientation: int = 0  # 0 = no tag, 1 = upright, 2..8 = flipped or rotated
    sha1: str = ""

    @property
    def exif_rotated(self) -> bool:
        return self.exif_orientation > 1

    def cacheable(self) -> dict:
        d = asdict(self)
        d.pop("image")
        return d


@dataclass
class ScanResult:
    files: list[FileScan]
    seconds: float
    decoded: int  # files actually read in this scan
    cached: int  # results taken from the cache
    cache_note: str = ""

    def by_image(self) -> dict[str, FileScan]:
        return {f.image: f for f in self.files}


def default_threads() -> int:
    """Decoding in Pillow and hashing release the GIL, so threads use several cores."""
    return max(1, min(8, os.cpu_count() or 1))


def scan_file(path: str, *, max_pixels: int) -> FileScan:
    """Hash and fully decode one file the way training does; never raises for a bad file."""
    info = FileScan(image=path, ok=False)
    try:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            detail = "broken symbolic link" if os.path.islink(path) else ""
            raise ImageDecodeError(path, "missing", detail or None) from None
        except OSError as e:
            raise ImageDecodeError(path, "unreadable", e.strerror or str(e)) from None
        if not stat.S_ISREG(st.st_mode):  # a pipe or a device would block or never end
            raise ImageDecodeError(path, "unreadable", "not a regular file")
        info.bytes = st.st_size
        info.sha1 = file_sha1(path)
        img = open_image(path, max_pixels=max_pixels)
        try:
            info.width, info.height = img.size
            to_array(img, in_chans=3)  # the same conversion training applies
        finally:
            img.close()
        info.format, info.mode, info.exif_orientation = _header(path)
        info.ok = True
    except ImageDecodeError as e:
        info.reason, info.detail = e.reason, str(e.detail or "")
    except MemoryError:
        info.reason, info.detail = "too many pixels", "out of memory while decoding"
    except Exception as e:  # never let one file stop the scan
        info.reason, info.detail = "unreadable", f"{type(e).__name__}: {e}"
    return info


def _header(path: str) -> tuple[str, str, int]:
    """Format, stored mode and EXIF orientation, read from the header only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as im:
            fmt, mode = str(im.format or ""), str(im.mode)
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION) or 0)
            except Exception:  # corrupt EXIF: the decoder keeps the stored orientation too
                orientation = 0
    return fmt, mode, orientation if 0 <= orientation <= 8 else 0


def scan_files(
    paths: Sequence[str],
    *,
    max_pixels: int,
    threads: int | None = None,
    progress: bool = False,
    cache: ScanCache | None = None,
    description: str = "scanning images",
) -> ScanResult:
    """Scan `paths` in parallel, reusing cached results for files that did not change."""
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    own_cache = cache is None
    if cache is None:
        cache = ScanCache.open({"max_pixels": max_pixels})
    keys = {p: file_key(p) for p in paths}
    cached = cache.get_many([(p, k) for p, k in keys.items() if k is not None])
    results: dict[str, FileScan] = {p: FileScan(image=p, **r) for p, r in cached.items()}
    todo = list(dict.fromkeys(p for p in paths if p not in results))
    fresh: list[tuple[str, str, dict]] = []
    if todo:
        with _progress(progress, description, len(todo)) as advance:
            with ThreadPoolExecutor(max_workers=threads or default_threads()) as pool:
                futures = {pool.submit(scan_file, p, max_pixels=max_pixels): p for p in todo}
                for fut in as_completed(futures):
                    info = fut.result()
                    results[info.image] = info
                    key = keys.get(info.image)
                    # Missing or unstat-able files are not cached: they are cheap to look at again.
                    if key is not None and info.reason != "missing":
                        fresh.append((info.image, key, info.cacheable()))
                    if len(fresh) >= 500:
                        cache.put_many(fresh)
                        fresh = []
                    advance()
        cache.put_many(fresh)
    note = "" if cache.enabled else f"scan cache not used ({cache.disabled_reason})"
    if own_cache:
        cache.close()
    return ScanResult(
        files=[results[p] for p in paths],
        seconds=time.perf_counter() - t0,
        decoded=len(todo),
        cached=len(cached),
        cache_note=note,
    )


class _progress:
    """A Rich progress bar over the files being decoded (or nothing when progress is off)."""

    def __init__(self, enabled: bool, description: str, total: int):
        self.enabled, self.description, self.total = enabled, description, total
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)


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

    Raises DataError when no usable image is left or a class is left without images.
    """
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
    skipped = pd.DataFrame(rows, columns=SKIPPED_COLUMNS).drop_duplicates("image")
    kept = df[keep].reset_index(drop=True)
    _require_usable(kept, samples.classes, len(bad) + len(samples.missing_rows))
    usable = Samples(
        df=kept,
        classes=samples.classes,
        layout=samples.layout,
        ignored_files=samples.ignored_files,
        notes=list(samples.notes),
        missing_rows=samples.missing_rows,
        empty_label_rows=samples.empty_label_rows,
    )
    return UsableSamples(usable, skipped.reset_index(drop=True), scan)


def _require_usable(df: pd.DataFrame, classes: list[str], n_bad: int) -> None:
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
        for split in ("train", "val"):
            if not (df["split"] == split).any():
                raise DataError(f"the {split} split has no usable images{hint}")


def leakage_groups(df: pd.DataFrame, sha1: dict[str, str]) -> list[dict]:
    """Groups of identical files (same content hash) that sit in both train and val."""
    if "split" not in df.columns:
        return []
    frame = pd.DataFrame(
        {"image": df["image"], "split": df["split"], "sha1": df["image"].map(sha1)}
    ).dropna(subset=["sha1"])
    groups = []
    for digest, g in frame.groupby("sha1", sort=True):
        splits = set(g["split"])
        if "train" in splits and "val" in splits:
            groups.append(
                {
                    "sha1": digest,
                    "train": sorted(g.loc[g["split"] == "train", "image"]),
                    "val": sorted(g.loc[g["split"] == "val", "image"]),
                }
            )
    return groups


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
    classes: dict[str, int]
    class_counts_by_split: dict[str, dict[str, int]]
    imbalance_ratio: float | None
    sizes: dict[str, int]
    size_stats: dict
    modes: dict[str, int]
    formats: dict[str, int]
    exif_rotations: dict[str, int]
    duplicates: list[dict]
    leakage: list[dict]
    leakage_split: str
    scan: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def check_dataset(
    cfg: DataConfig,
    *,
    seed: int = 42,
    progress: bool = False,
    use_cache: bool = True,
    threads: int | None = None,
) -> CheckReport:
    """Scan the dataset described by `cfg` and describe it; nothing in the dataset is written.

    Raises DataError only when the dataset cannot even be listed (no folder, CSV columns
    missing, ...); unusable files and rows are reported, not raised.
    """
    samples = load_samples(cfg, missing_files="skip", empty_labels="skip")
    cache = ScanCache.open({"max_pixels": cfg.max_pixels}) if use_cache else ScanCache.disabled()
    with cache:
        scan = scan_files(
            list(samples.df["image"]),
            max_pixels=cfg.max_pixels,
            threads=threads,
            progress=progress,
            cache=cache,
        )
    return build_report(samples, scan, cfg, seed=seed)


def build_report(samples: Samples, scan: ScanResult, cfg: DataConfig, *, seed: int) -> CheckReport:
    info = scan.by_image()
    df = samples.df
    ok_mask = df["image"].map(lambda p: info[p].ok)
    usable_df = df[ok_mask].reset_index(drop=True)
    bad = [f for f in scan.files if not f.ok]
    labels = dict(zip(df["image"], df["label"], strict=True))
    bad_files = [
        {"image": f.image, "label": labels.get(f.image, ""), "reason": f.reason, "detail": f.detail}
        for f in sorted(bad, key=lambda f: f.image)
    ]
    good = [info[p] for p in usable_df["image"]]

    classes = {c: int((usable_df["label"] == c).sum()) for c in samples.classes}
    nonzero = [n for n in classes.values() if n > 0]
    imbalance = round(max(nonzero) / min(nonzero), 3) if nonzero else None
    by_split: dict[str, dict[str, int]] = {}
    if samples.has_split:
        for split in ("train", "val"):
            part = usable_df[usable_df["split"] == split]
            by_split[split] = {c: int((part["label"] == c).sum()) for c in samples.classes}

    problems, notes = [], []
    if usable_df.empty:
        problems.append(f"no usable images ({len(bad)} unreadable files)")
    else:
        empty = [c for c, n in classes.items() if n == 0]
        if empty:
            problems.append(f"class(es) without usable images: {', '.join(empty)}")
        if len(nonzero) < 2:
            problems.append("fewer than two classes have usable images")
        for split, counts in by_split.items():
            if sum(counts.values()) == 0:
                problems.append(f"the {split} split has no usable images")

    # Duplicates (usable files only: every empty file has the same hash).
    sha1 = {f.image: f.sha1 for f in good}
    groups: dict[str, set[str]] = {}
    for f in good:
        groups.setdefault(f.sha1, set()).add(f.image)
    duplicates = [
        {
            "sha1": digest,
            "images": sorted(images),
            "labels": sorted({labels[i] for i in images}),
        }
        for digest, images in sorted(groups.items())
        if len(images) > 1
    ]
    conflicts = sum(1 for d in duplicates if len(d["labels"]) > 1)

    # Leakage: the given split, or the hold-out split `train` would draw with the same seed.
    leakage: list[dict] = []
    leakage_split = "none"
    if not usable_df.empty and not problems:
        if samples.has_split:
            split_df, leakage_split = usable_df, "given (train/val folders)"
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    split_df = holdout_split(usable_df, cfg.val_fraction, seed)
                leakage_split = (
                    f"hold-out drawn by train (val_fraction={cfg.val_fraction}, seed={seed})"
                )
            except DataError as e:
                split_df, leakage_split = None, f"not computed: {e}"
        if split_df is not None:
            leakage = leakage_groups(split_df, sha1)

    sizes = Counter(f"{f.width}x{f.height}" for f in good)
    widths = np.array([f.width for f in good]) if good else np.zeros(0)
    heights = np.array([f.height for f in good]) if good else np.zeros(0)
    size_stats = {
        name: (
            {"min": int(v.min()), "median": float(np.median(v)), "max": int(v.max())}
            if len(v)
            else {}
        )
        for name, v in (("width", widths), ("height", heights))
    }
    rotations = Counter(str(f.exif_orientation) for f in good if f.exif_rotated)
    n_rotated = sum(rotations.values())

    if bad:
        notes.append(f"{_n(len(bad), 'file')} cannot be used; `train` leaves them out")
    if samples.missing_rows:
        notes.append(f"CSV rows whose file is missing: {len(samples.missing_rows)}")
    if samples.empty_label_rows:
        notes.append(f"CSV rows with an empty label: {len(samples.empty_label_rows)}")
    if duplicates:
        extra = sum(len(d["images"]) - 1 for d in duplicates)
        notes.append(
            f"{_n(len(duplicates), 'group')} of identical files ({_n(extra, 'extra copy')})"
        )
    if conflicts:
        notes.append(f"{_n(conflicts, 'group')} of identical files with different labels")
    if leakage:
        notes.append(
            f"{_n(len(leakage), 'group')} of identical files in both train and val (leakage)"
        )
    if imbalance is not None and imbalance >= 10:
        notes.append(f"classes are imbalanced: the largest is {imbalance:g}x the smallest")

    counts = {
        "listed": len(df) + len(samples.missing_rows) + len(samples.empty_label_rows),
        "scanned": len(df),
        "usable": len(usable_df),
        "bad": len(bad),
        "ignored_by_extension": samples.ignored_files,
        "missing_rows": len(samples.missing_rows),
        "empty_label_rows": len(samples.empty_label_rows),
        "exif_rotated": n_rotated,
        "duplicate_groups": len(duplicates),
        "duplicate_label_conflicts": conflicts,
        "leakage_groups": len(leakage),
    }
    return CheckReport(
        data={"path": cfg.path, "csv": cfg.csv, "root": cfg.root, "max_pixels": cfg.max_pixels},
        layout=samples.layout,
        usable=not problems,
        problems=problems,
        warnings=notes,
        counts=counts,
        bad_files=bad_files,
        bad_by_reason=dict(Counter(f.reason for f in bad).most_common()),
        missing_rows=[
            {"line": line, "image": img, "label": lab} for line, img, lab in samples.missing_rows
        ],
        empty_label_rows=[{"line": line, "image": img} for line, img in samples.empty_label_rows],
        classes=classes,
        class_counts_by_split=by_split,
        imbalance_ratio=imbalance,
        sizes=dict(sizes.most_common()),
        size_stats=size_stats,
        modes=dict(Counter(f.mode for f in good).most_common()),
        formats=dict(Counter(f.format for f in good).most_common()),
        exif_rotations=dict(sorted(rotations.items())),
        duplicates=duplicates,
        leakage=leakage,
        leakage_split=leakage_split,
        scan={
            "seconds": round(scan.seconds, 3),
            "decoded": scan.decoded,
            "cached": scan.cached,
            "cache": scan.cache_note or "used",
        },
    )


# ------------------------------------------------------------------------------------------------
# Rendering (Rich)


def _n(count: int, word: str) -> str:
    """'1 group', '3 groups', '2 extra copies'."""
    if count == 1:
        return f"1 {word}"
    plural = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{count} {plural}"


def printable(text: str) -> str:
    """File names that are not valid UTF-8 (kept by Python as surrogates) shown with U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def render_report(report: CheckReport, console, *, root: str | None = None) -> None:
    """Print the report as Rich tables: summary, classes, sizes/modes, then every bad file."""
    from rich.markup import escape
    from rich.table import Table

    def rel(p: str) -> str:
        if root:
            try:
                p = str(Path(p).relative_to(Path(root).resolve()))
            except ValueError:
                pass
        return escape(printable(p))

    c = report.counts
    summary = Table(title="data check", show_header=False, title_justify="left")
    summary.add_row("layout", report.layout)
    summary.add_row("images", f"{c['scanned']} scanned, {c['usable']} usable, {c['bad']} bad")
    for reason, n in report.bad_by_reason.items():
        summary.add_row(f"  {reason}", str(n))
    summary.add_row("ignored by extension", str(c["ignored_by_extension"]))
    if report.layout == "csv":
        summary.add_row("CSV rows, file missing", str(c["missing_rows"]))
        summary.add_row("CSV rows, empty label", str(c["empty_label_rows"]))
    summary.add_row("EXIF rotation", f"{c['exif_rotated']} images")
    summary.add_row(
        "duplicates",
        f"{_n(c['duplicate_groups'], 'group')} "
        f"({c['duplicate_label_conflicts']} with different labels)",
    )
    summary.add_row(
        "train/val leakage", f"{_n(c['leakage_groups'], 'group')} ({report.leakage_split})"
    )
    ratio = "n/a" if report.imbalance_ratio is None else f"{report.imbalance_ratio:g}"
    summary.add_row("imbalance (max/min)", ratio)
    scan = report.scan
    summary.add_row(
        "scan", f"{scan['decoded']} decoded, {scan['cached']} cached, {scan['seconds']:.1f} s"
    )
    console.print(summary)

    classes = Table(title="usable images per class", title_justify="left")
    classes.add_column("class")
    classes.add_column("images", justify="right")
    splits = list(report.class_counts_by_split)
    for s in splits:
        classes.add_column(s, justify="right")
    for name, n in report.classes.items():
        classes.add_row(name, str(n), *(str(report.class_counts_by_split[s][name]) for s in splits))
    console.print(classes)

    shapes = Table(title="sizes and modes", title_justify="left")
    shapes.add_column("size (WxH)")
    shapes.add_column("images", justify="right")
    shapes.add_column("mode")
    shapes.add_column("images", justify="right")
    sizes, modes = list(report.sizes.items())[:10], list(report.modes.items())
    more = len(report.sizes) - len(sizes)
    if more > 0:
        sizes.append((f"... {more} more sizes", ""))
    for i in range(max(len(sizes), len(modes))):
        s = sizes[i] if i < len(sizes) else ("", "")
        m = modes[i] if i < len(modes) else ("", "")
        shapes.add_row(s[0], str(s[1]), m[0], str(m[1]))
    if sizes or modes:
        console.print(shapes)

    if report.bad_files:
        bad = Table(title=f"unusable files ({len(report.bad_files)})", title_justify="left")
        bad.add_column("file", overflow="fold")
        bad.add_column("reason")
        bad.add_column("detail", overflow="fold")
        for f in report.bad_files:
            bad.add_row(rel(f["image"]), f["reason"], f["detail"])
        console.print(bad)
    if report.missing_rows:
        t = Table(
            title=f"CSV rows whose file is missing ({len(report.missing_rows)})",
            title_justify="left",
        )
        t.add_column("line", justify="right")
        t.add_column("file", overflow="fold")
        for r in report.missing_rows:
            t.add_row(str(r["line"]), r["image"])
        console.print(t)
    if report.empty_label_rows:
        t = Table(
            title=f"CSV rows with an empty label ({len(report.empty_label_rows)})",
            title_justify="left",
        )
        t.add_column("line", justify="right")
        t.add_column("file", overflow="fold")
        for r in report.empty_label_rows:
            t.add_row(str(r["line"]), r["image"])
        console.print(t)
    if report.leakage:
        t = Table(
            title=f"identical files in train and val ({_n(len(report.leakage), 'group')})",
            title_justify="left",
        )
        t.add_column("train", overflow="fold")
        t.add_column("val", overflow="fold")
        for g in report.leakage[:50]:
            t.add_row("\n".join(map(rel, g["train"])), "\n".join(map(rel, g["val"])))
        if len(report.leakage) > 50:
            t.add_row(f"... {len(report.leakage) - 50} more groups in the JSON report", "")
        console.print(t)
    if report.duplicates:
        t = Table(
            title=f"identical files ({_n(len(report.duplicates), 'group')})", title_justify="left"
        )
        t.add_column("files", overflow="fold")
        t.add_column("labels")
        for g in report.duplicates[:20]:
            t.add_row("\n".join(map(rel, g["images"])), ", ".join(g["labels"]))
        if len(report.duplicates) > 20:
            t.add_row(f"... {len(report.duplicates) - 20} more groups in the JSON report", "")
        console.print(t)
    for note in report.warnings:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
