"""Rich output of `visionfit check`: the classification report and the segmentation report."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from visionfit.cli import render
from visionfit.text import plural as _n
from visionfit.text import printable


def _relative_to(root: str | None):
    def rel(p: str) -> str:
        if root:
            try:
                p = str(Path(p).relative_to(Path(root).resolve()))
            except ValueError:
                pass
        return escape(printable(p))

    return rel


def print_start(source: str) -> None:
    render.console.print(
        f"checking {escape(printable(source))}: every image is decoded as training decodes it",
        highlight=False,
    )


def print_check_report(report, *, root: str | None = None) -> None:
    """data.check.CheckReport as tables: summary, classes, sizes/modes, then every bad file."""
    rel = _relative_to(root)
    render.console.print(_summary_table(report))
    render.console.print(_classes_table(report))
    shapes = _shapes_table(report)
    if shapes is not None:
        render.console.print(shapes)
    depths = _depths_table(report)
    if depths is not None:
        render.console.print(depths)
    tables = (*_bad_rows_tables(report, rel), *_duplicate_tables(report, rel))
    for table in (*tables, *_near_duplicate_tables(report, rel)):
        render.console.print(table)
    for text in report.warnings:
        render.note(text)


def _summary_table(report) -> Table:
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
    if c.get("dicom_files"):
        p = c["dicom_patients"]
        who = f"grouped by DICOM PatientID: {_n(p, 'patient')}" if p else "no PatientID"
        summary.add_row("DICOM", f"{_n(c['dicom_files'], 'file')}; {who}")
    summary.add_row(
        "duplicates",
        f"{_n(c['duplicate_groups'], 'group')} "
        f"({c['duplicate_label_conflicts']} with different labels)",
    )
    summary.add_row(
        "train/val leakage", f"{_n(c['leakage_groups'], 'group')} ({report.leakage_split})"
    )
    near = report.near_duplicates
    if near:
        n = near["counts"]
        summary.add_row(
            f"near-duplicates (pHash <= {near['max_distance']} bits)",
            f"{_n(n['pairs'], 'pair')}: {n['same_class']} within a class, "
            f"{n['across_classes']} across classes, {n['across_splits']} across the split",
        )
    ratio = "n/a" if report.imbalance_ratio is None else f"{report.imbalance_ratio:g}"
    summary.add_row("imbalance (max/min)", ratio)
    scan = report.scan
    summary.add_row(
        "scan", f"{scan['decoded']} decoded, {scan['cached']} cached, {scan['seconds']:.1f} s"
    )
    return summary


def _classes_table(report) -> Table:
    classes = Table(title="usable images per class", title_justify="left")
    classes.add_column("class")
    classes.add_column("images", justify="right")
    splits = list(report.class_counts_by_split)
    for s in splits:
        classes.add_column(s, justify="right")
    for name, n in report.classes.items():
        classes.add_row(name, str(n), *(str(report.class_counts_by_split[s][name]) for s in splits))
    return classes


def _shapes_table(report) -> Table | None:
    sizes, modes = list(report.sizes.items())[:10], list(report.modes.items())
    if not sizes and not modes:
        return None
    shapes = Table(title="sizes and modes", title_justify="left")
    shapes.add_column("size (WxH)")
    shapes.add_column("images", justify="right")
    shapes.add_column("mode")
    shapes.add_column("images", justify="right")
    more = len(report.sizes) - len(sizes)
    if more > 0:
        sizes.append((f"... {more} more sizes", ""))
    for i in range(max(len(sizes), len(modes))):
        s = sizes[i] if i < len(sizes) else ("", "")
        m = modes[i] if i < len(modes) else ("", "")
        shapes.add_row(s[0], str(s[1]), m[0], str(m[1]))
    return shapes


def _depths_table(report) -> Table | None:
    """Bit depths and channel counts, shown when some image is not 8-bit RGB/grayscale."""
    depths, chans = list(report.bit_depths.items()), list(report.channels.items())
    if set(report.bit_depths) <= {"8-bit"} and set(report.channels) <= {"1", "3"}:
        return None
    table = Table(title="bit depths and channels", title_justify="left")
    for name, justify in (("bit depth", "left"), ("images", "right"), ("channels", "right"),
                          ("images ", "right")):  # fmt: skip
        table.add_column(name, justify=justify)
    for i in range(max(len(depths), len(chans))):
        d = depths[i] if i < len(depths) else ("", "")
        c = chans[i] if i < len(chans) else ("", "")
        table.add_row(d[0], str(d[1]), c[0], str(c[1]))
    return table


def _bad_rows_tables(report, rel) -> list[Table]:
    tables = []
    if report.bad_files:
        bad = Table(title=f"unusable files ({len(report.bad_files)})", title_justify="left")
        bad.add_column("file", overflow="fold")
        bad.add_column("reason")
        bad.add_column("detail", overflow="fold")
        for f in report.bad_files:
            bad.add_row(rel(f["image"]), f["reason"], f["detail"])
        tables.append(bad)
    for rows, what in (
        (report.missing_rows, "whose file is missing"),
        (report.empty_label_rows, "with an empty label"),
    ):
        if rows:
            t = Table(title=f"CSV rows {what} ({len(rows)})", title_justify="left")
            t.add_column("line", justify="right")
            t.add_column("file", overflow="fold")
            for r in rows:
                t.add_row(str(r["line"]), r["image"])
            tables.append(t)
    if report.conflicting_labels:
        t = Table(
            title=f"files with conflicting labels ({len(report.conflicting_labels)})",
            title_justify="left",
        )
        t.add_column("file", overflow="fold")
        t.add_column("lines: labels", overflow="fold")
        for c in report.conflicting_labels:
            rows = zip(c["lines"], c["labels"], strict=True)
            t.add_row(rel(c["image"]), "; ".join(f"{ln}: {lab}" for ln, lab in rows))
        tables.append(t)
    return tables


def _duplicate_tables(report, rel) -> list[Table]:
    tables = []
    if report.leakage:
        t = Table(
            title=f"identical files in train and val ({_n(len(report.leakage), 'group')})",
            title_justify="left",
        )
        t.add_column("train", overflow="fold")
        t.add_column("val", overflow="fold")
        for g in report.leakage[:50]:
            held_out = g["val"] + g.get("test", [])  # a test split's duplicates too
            t.add_row("\n".join(map(rel, g["train"])), "\n".join(map(rel, held_out)))
        if len(report.leakage) > 50:
            t.add_row(f"... {len(report.leakage) - 50} more groups in the JSON report", "")
        tables.append(t)
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
        tables.append(t)
    return tables


def _near_duplicate_tables(report, rel) -> list[Table]:
    pairs = (report.near_duplicates or {}).get("pairs") or []
    if not pairs:
        return []
    t = Table(title=f"near-duplicate pairs ({len(pairs)})", title_justify="left")
    for name in ("image", "near-duplicate"):
        t.add_column(name, overflow="fold")
    t.add_column("bits", justify="right")
    t.add_column("kind")
    for p in pairs[:20]:
        a = f"{rel(p['image_a'])} ({escape(p['label_a'])} {p['split_a']})".replace(" )", ")")
        b = f"{rel(p['image_b'])} ({escape(p['label_b'])} {p['split_b']})".replace(" )", ")")
        t.add_row(a, b, str(p["distance"]), p["kind"])
    if len(pairs) > 20:
        t.add_row(f"... {len(pairs) - 20} more pairs in the CSV and the JSON report", "", "", "")
    return [t]


def near_duplicate_files(out: Path) -> tuple[Path, Path]:
    """Where check writes the pairs beside its JSON report: FILE_near_duplicates.csv / .png."""
    stem = out.with_suffix("").name
    return (
        out.parent / f"{stem}_near_duplicates.csv",
        out.parent / f"{stem}_near_duplicates.png",
    )


def write_near_duplicates(report, out: Path) -> None:
    """The pairs as a CSV (every pair, even none) and a grid of the first ones."""
    import pandas as pd

    from visionfit.data.neardup import PAIR_COLUMNS
    from visionfit.fileio import create_exclusive_csv
    from visionfit.plots.pairs import pairs_grid

    csv_path, png_path = near_duplicate_files(out)
    pairs = report.near_duplicates["pairs"]
    table = getattr(pairs, "table", None)  # check's PairRecords: its table, no dicts
    create_exclusive_csv(
        csv_path, table if table is not None else pd.DataFrame(pairs, columns=PAIR_COLUMNS)
    )
    render.console.print(f"near-duplicate pairs written to {csv_path}")
    if pairs and pairs_grid(pairs, png_path.parent, png_path.name) is not None:
        render.console.print(f"their grid: {png_path}")


def print_verdict(report, usable: str) -> None:
    """The last line: usable (stdout; `usable` is the task's words for the data) or not, with
    the problems (stderr)."""
    if not report.usable:
        render.err_console.print(
            f"[bold red]data not usable:[/] {'; '.join(report.problems)}", highlight=False
        )
        return
    left_out = report.counts["bad"]
    render.console.print(
        f"[green]data usable:[/] {usable}"
        + (f", {left_out} unusable files left out by train" if left_out else ""),
        highlight=False,
    )
