"""Rich rendering of a check report (the CLI prints it)."""

from __future__ import annotations

from pathlib import Path

from visionfit.data.check import CheckReport, _n, printable

# ------------------------------------------------------------------------------------------------
# Rendering (Rich)


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
            t.add_row(
                "\n".join(map(rel, g["train"])), "\n".join(map(rel, g["val"] + g.get("test", [])))
            )
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
