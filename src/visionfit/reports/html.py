"""`report.html`: one offline page per run (no CDN, no script), built from the run directory.

>>> from visionfit.reports.html import write_report
>>> write_report(Path("runs/simple_cnn-20261122-101500"))  # RUN/plots/*.png + RUN/report.html
"""

from __future__ import annotations

import time
from pathlib import Path

from visionfit.fileio import atomic_write_text, check_new_path, create_exclusive
from visionfit.plots.html import esc

# The common sections register themselves on import (order on the page comes from `order`);
# a task's own sections come from its `report_sections()` hook.
from visionfit.reports import audit_section, sections_common  # noqa: F401
from visionfit.reports._run import RunView, load_predictor
from visionfit.reports.registry import ReportContext, Section, builders_for
from visionfit.runs import files as run_files

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d1e0;font-size:13px}
nav{padding:8px 24px;background:#fff;border-bottom:1px solid #dde1e8;display:flex;flex-wrap:wrap;
gap:4px 14px;position:sticky;top:0;z-index:1}
nav a{color:#2456c8;text-decoration:none;font-size:13px;white-space:nowrap}
main{max-width:1280px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:16px 0;
padding:6px 18px 14px}
h2{font-size:18px;margin:12px 0 8px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #e3e6ec;padding:3px 8px;text-align:left}
thead th{background:#f0f2f6;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#fff3c4;font-weight:600}table.kv th{background:#f7f8fa;font-weight:600}
.scroll{overflow:auto;max-height:480px;max-width:100%}
figure{margin:8px 0}img{max-width:100%;height:auto;border:1px solid #eceef2}
pre{background:#f3f4f7;padding:10px;overflow:auto;font-size:12.5px;border-radius:4px}
.muted{color:#667085}summary{cursor:pointer;color:#2456c8}.notes li{color:#8a5a00}
"""


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write RUN/plots/*.png and the report (default RUN/report.html, rewritten each time).

    A given `out` that already exists is never overwritten. Written inside the run, the page
    links its plots relatively (`plots/x.png`); anywhere else it embeds them (one file to share).
    """
    run = RunView.open(run_dir)
    run_dir = run.path
    given = out is not None
    out = Path(out) if given else run_dir / run_files.REPORT
    if given:
        check_new_path(out)  # before the work; the exclusive write decides a race
    out.parent.mkdir(parents=True, exist_ok=True)
    inside = out.parent.resolve() == run_dir.resolve()
    ctx = ReportContext(
        run,
        run_dir / "plots",
        run_dir,
        embed=not inside,
        load_predictor=lambda: load_predictor(run_dir),
    )
    started = time.perf_counter()
    sections = [s for e in builders_for(run) if (s := _build(e, ctx)) is not None]
    page = render(run, sections, ctx.notes, time.perf_counter() - started)
    _atomic_write(out, page, exclusive=given)
    return out


def _build(entry, ctx: ReportContext) -> Section | None:
    try:
        return entry.build(ctx)
    except Exception as e:  # noqa: BLE001 - a section that fails is reported on the page
        ctx.notes.append(f"section {entry.id!r} failed: {type(e).__name__}: {e}")
        return None


def render(run: RunView, sections: list[Section], notes: list[str], seconds: float) -> str:
    subtitle = f"{run.kind} run · {run.task} · {run.model_name} · built in {seconds:.1f} s"
    return page(
        f"visionfit report: {run.name}",
        run.name,
        f"{subtitle} · {run.path}",
        sections,
        notes,
        notes_title="Problems",
    )


def page(
    title: str, heading: str, subtitle: str, sections: list[Section], notes: list[str], *,
    notes_title: str,
) -> str:  # fmt: skip
    """One self-contained page in the report's style: a header, a section index, the sections,
    then the notes (if any) as the last section."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections
    )
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        notes_id = notes_title.lower()
        body += (
            f'<section id="{notes_id}"><h2>{esc(notes_title)}</h2>'
            f'<ul class="notes">{items}</ul></section>'
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(heading)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>"
    )


def _atomic_write(path: Path, text: str, *, exclusive: bool) -> None:
    """A given --out is created exclusively (never overwritten); the run's own report.html is
    replaced atomically."""
    if exclusive:
        create_exclusive(path, text)
    else:
        atomic_write_text(path, text)
