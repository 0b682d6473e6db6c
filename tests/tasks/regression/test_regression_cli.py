"""End to end from the shell, as a user runs them (subprocesses of the CLI, no fakes):
`visionfit train --csv t.csv --task regress --label-col y`, predict, serve (a real server on a
port), export, report, baseline and tune."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pandas as pd
import pytest

VISIONFIT = [sys.executable, "-m", "visionfit.cli"]
TINY = ["--model", "simple_cnn", "--img-size", "32", "--batch-size", "16", "--augment", "none",
        "--workers", "0", "--runs-dir", "runs"]  # fmt: skip


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VISIONFIT, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
    )


def _data(disc_dir: Path) -> list[str]:
    return ["--csv", str(disc_dir / "t.csv"), "--task", "regress", "--label-col", "y"]


@pytest.fixture(scope="module")
def shell_run(disc_dir, tmp_path_factory) -> tuple[Path, Path]:
    cwd = tmp_path_factory.mktemp("reg_cli")
    train = _run(["train", *_data(disc_dir), *TINY, "--epochs", "2", "--name", "reg"], cwd)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "r2" in train.stdout
    return cwd, next((cwd / "runs").iterdir())


def test_train_and_predict_from_the_shell(shell_run, disc_dir):
    cwd, run = shell_run
    assert json.loads((run / "model.json").read_text())["task"] == "regress"
    out = cwd / "pred.csv"
    pred = _run(["predict", str(run), str(disc_dir / "images"), "--out", str(out)], cwd)
    assert pred.returncode == 0, pred.stderr[-3000:]
    table = pd.read_csv(out)
    assert list(table.columns) == ["image", "prediction"] and len(table) == 80
    assert "predictions of 'y'" in pred.stdout + pred.stderr


def test_export_and_report_from_the_shell(shell_run):
    cwd, run = shell_run
    export = _run(["export", str(run), "--format", "onnx"], cwd)
    assert export.returncode == 0, export.stderr[-3000:]
    meta = json.loads((run / "export" / "onnx" / "export.json").read_text())
    assert meta["output"]["shape"] == ["batch", 1] and meta["output"]["kind"] == "value"

    report = _run(["report", str(run)], cwd)
    assert report.returncode == 0, report.stderr[-3000:]
    html = next(run.rglob("report.html")).read_text()
    assert "Predicted vs true" in html and "pred_vs_true.png" in html
    assert "Residuals" in html and "Regression scores" in html


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_image(url: str, name: str, data: bytes) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_serve_answers_a_value_on_its_port(shell_run, disc_dir):
    cwd, run = shell_run
    port = _free_port()
    proc = subprocess.Popen(
        [*VISIONFIT, "serve", str(run), "--port", str(port)],
        cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                with urllib.request.urlopen(base + "/model", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stdout.read().decode()[-3000:])
                time.sleep(0.5)
        image = disc_dir / "images" / "img_000.png"
        status, body = _post_image(base + "/predict", image.name, image.read_bytes())
        assert status == 200, body
        assert body["view"] == "value" and body["target"] == "y" and body["task"] == "regress"
        assert 0 < body["prediction"] < 20
        status, _ = _post_image(base + "/predict", "x.png", b"not a png")
        assert status in (415, 422)
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_baseline_from_the_shell(disc_dir, tmp_path):
    res = _run(
        ["baseline", *_data(disc_dir), "--folds", "2", "--size", "16", "--runs-dir", "runs"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = next((tmp_path / "runs").iterdir())
    summary = pd.read_csv(run / "cv_summary.csv").set_index("fold")
    assert summary.loc["oof", "val_r2"] > 0.0
    assert "r2" in res.stdout


def test_baseline_refuses_a_classifier_model(disc_dir, tmp_path):
    res = _run(["baseline", *_data(disc_dir), "--model", "svm", "--runs-dir", "runs"], tmp_path)
    assert res.returncode == 2 and "random-forest regressor" in res.stderr + res.stdout


def test_tune_two_tiny_trials(disc_dir, tmp_path):
    res = _run(
        ["tune", *_data(disc_dir), *TINY, "--epochs", "1", "--trials", "2", "--out", "tune"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "tune" / "best.yaml").is_file()
    assert "val_rmse" in res.stdout + res.stderr


def test_check_reports_the_target_and_refuses_bad_targets(disc_dir, tmp_path):
    ok = _run(["check", *_data(disc_dir)], tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    bad_csv = tmp_path / "bad.csv"
    rows = (disc_dir / "t.csv").read_text().splitlines()
    rows[3] = rows[3].split(",")[0] + ",n/a"
    bad_csv.write_text("\n".join(rows) + "\n")
    bad = _run(["check", "--csv", str(bad_csv), "--root", str(disc_dir), "--task", "regress",
                "--label-col", "y"], tmp_path)  # fmt: skip
    assert bad.returncode != 0 and "line 4" in bad.stdout + bad.stderr
