"""`visionfit report` (a static HTML report of a run, or a comparison of runs), `visionfit serve`.

Both call visionfit.reports / visionfit.serve, imported only when the command runs (start-up).
"""

from __future__ import annotations

from pathlib import Path

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.errors import VisionfitError
from visionfit.fileio import check_new_path

HUB_FORMAT = "hf"  # `export --format hf`: reports/hub_folder.py, not an exporter of a graph


def write_comparison(runs_dir: Path, out: Path | None) -> Path:
    """The HTML comparison of the runs in RUNS_DIR (visionfit.reports.compare)."""
    from visionfit.reports.compare import write_comparison as write

    return write(runs_dir, out)


@command()
def report(
    target: o.ReportTarget,
    compare: o.Compare = False,
    out: o.ReportOut = None,
) -> None:
    """Write a static HTML report of a run (curves, scores, errors), or with --compare of all runs
    in a folder; prints the file written.
    """
    if not target.exists():
        raise VisionfitError(f"{'runs folder' if compare else 'run directory'} not found: {target}")
    if out is not None:
        check_new_path(out)
    if compare:
        written = write_comparison(target, out)
    else:
        from visionfit.reports.html import write_report

        written = write_report(target, out)
    render.console.print(f"wrote {written}", highlight=False)


@command()
def audit(run_dir: o.RunDir, out: o.AuditOut = None, top: o.AuditTop = 24) -> None:
    """Find likely wrong labels of a run: confident learning on a CV run's out-of-fold
    probabilities (a single run: its validation images only). Writes label_issues.csv (edit its
    relabel / exclude columns and train again with --relabel / --exclude) and a grid of the top
    issues.
    """
    from visionfit.cli.render_audit import render_audit
    from visionfit.reports.audit import audit_run

    render_audit(audit_run(run_dir, out, top=top))


@command()
def export(
    run_dir: o.RunDir,
    fmt: o.ExportFormat = "onnx",
    out: o.ExportOut = None,
    opset: o.Opset = None,
    check: o.ParityCheck = True,
    check_images: o.CheckImages = 32,
    min_agreement: o.MinAgreement = 0.99,
    embed_preprocessing: o.EmbedPreprocessing = False,
    verify: o.ExportVerify = None,
) -> None:
    """Export a run to ONNX or TorchScript (dynamic batch axis; probabilities out), with its
    preprocessing, classes and post-processing in export.json, a parity check against PyTorch
    and the agreement with PyTorch on the run's own validation images.
    """
    if verify is not None:
        from visionfit.inference.agreement import agreement_line
        from visionfit.inference.verify import verify_export

        info = verify_export(run_dir, verify, check_images, min_agreement)
        render.console.print(f"{verify}: {agreement_line(info)}", highlight=False)
        return
    options = dict(opset=opset, check=check, check_images=check_images, min_agreement=min_agreement)
    if fmt == HUB_FORMAT:
        from visionfit.reports.hub_folder import write_hub_folder

        render.console.print(write_hub_folder(run_dir, out, **options).summary(), highlight=False)
        return
    from visionfit.inference.export import export_run

    result = export_run(run_dir, fmt, out, embed_preprocessing=embed_preprocessing, **options)
    render.console.print(result.summary(), highlight=False)


@command()
def serve(
    run_dir: o.RunDir,
    host: o.Host = "127.0.0.1",
    port: o.Port = 8000,
    max_upload_mb: o.MaxUploadMb = 10.0,
    max_pixels: o.RunMaxPixels = None,
    workers_queue: o.WorkersQueue = None,
    max_batch: o.MaxBatch = 16,
    max_wait_ms: o.MaxWaitMs = 5.0,
    backend: o.Backend = "torch",
) -> None:
    """Serve a run's model over HTTP: an upload page and a JSON prediction endpoint; concurrent
    requests are predicted in batches."""
    if not run_dir.is_dir():
        raise VisionfitError(f"run directory not found: {run_dir}")
    from visionfit.serve.app import serve as run_server

    run_server(
        run_dir,
        host=host,
        port=port,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        max_queue=8 if workers_queue is None else workers_queue,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        backend=backend,
    )
