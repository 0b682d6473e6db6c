"""runs, report and serve: thin commands over visionfit.runs.table, reports and serve."""

from __future__ import annotations

import json
import sys
import types

import pandas as pd
import pytest


@pytest.fixture
def runs_dir(tmp_path):
    """Two finished single runs (a summary.json is what makes a run finished)."""
    for name, acc in (("a-1", 0.8), ("b-1", 0.9)):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        summary = {"task": "multiclass", "best_metrics": {"val_acc": acc}, "seconds": 3}
        (run / "summary.json").write_text(json.dumps(summary))
    return tmp_path / "runs"


@pytest.fixture
def fake(monkeypatch):
    """Install a module whose function records its arguments and returns a path."""

    def install(module: str, function: str):
        calls = []

        def record(*args, **kwargs):
            calls.append((args, kwargs))
            return args[-1] if function != "serve" and args[-1] else args[0] / "report.html"

        fake_module = types.ModuleType(module)
        setattr(fake_module, function, record)
        monkeypatch.setitem(sys.modules, module, fake_module)
        return calls

    return install


def test_runs_table_csv_and_html(runs_dir, tmp_path, run_cli, fake):
    calls = fake("visionfit.reports.compare", "write_comparison")
    out_csv, out_html = tmp_path / "t.csv", tmp_path / "t.html"
    code, out, err = run_cli(
        ["runs", runs_dir, "--sort", "score", "--csv", out_csv, "--html", out_html]
    )
    assert code == 0, err
    assert out.index("b-1") < out.index("a-1")  # best first
    assert list(pd.read_csv(out_csv)["run"]) == ["b-1", "a-1"]
    assert calls == [((runs_dir, out_html), {})] and f"wrote {out_html}" in out
    code, _, err = run_cli(["runs", runs_dir, "--csv", out_csv])
    assert code == 2 and "exists" in err


def test_report_one_run_and_a_comparison(runs_dir, tmp_path, run_cli, fake):
    report = fake("visionfit.reports.html", "write_report")
    compare = fake("visionfit.reports.compare", "write_comparison")
    code, out, err = run_cli(["report", runs_dir / "a-1"])
    assert code == 0, err
    assert report == [((runs_dir / "a-1", None), {})]
    assert f"wrote {runs_dir / 'a-1' / 'report.html'}" in out
    target = tmp_path / "all.html"
    assert run_cli(["report", runs_dir, "--compare", "--out", target])[0] == 0
    assert compare == [((runs_dir, target), {})]
    code, _, err = run_cli(["report", tmp_path / "nope"])
    assert code == 2 and "run directory not found" in err


def test_serve_passes_host_port_and_limits(runs_dir, run_cli, fake):
    """What the CLI passes must bind to the real `serve` (a fake accepting anything hid a
    TypeError once: tests/acceptance starts the real server)."""
    import inspect

    from visionfit.serve.app import serve as real_serve

    calls = fake("visionfit.serve.app", "serve")
    run = runs_dir / "a-1"
    assert run_cli(["serve", run])[0] == 0
    assert calls[-1][1]["max_upload_mb"] == 10.0 and calls[-1][1]["port"] == 8000
    args = ["serve", run, "--port", "9000", "--max-pixels", "1000", "--workers-queue", "4"]
    assert run_cli(args)[0] == 0
    assert calls[-1][1] == {
        "host": "127.0.0.1",
        "port": 9000,
        "max_upload_mb": 10.0,
        "max_pixels": 1000,
        "max_queue": 4,
        "max_batch": 16,
        "max_wait_ms": 5.0,
        "backend": "torch",
    }
    args = ["serve", run, "--max-batch", "1", "--max-wait-ms", "0", "--backend", "onnx"]
    assert run_cli(args)[0] == 0
    assert calls[-1][1]["max_batch"] == 1 and calls[-1][1]["max_wait_ms"] == 0
    assert calls[-1][1]["backend"] == "onnx"
    for positional, keywords in calls:
        inspect.signature(real_serve).bind(*positional, **keywords)
