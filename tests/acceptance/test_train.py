"""README "Train on your data", "The run directory", "Predict", "Errors", "Data health, crashes and
resuming": the shell examples as subprocesses (see examples.yaml for the shell line -> test map)."""

from __future__ import annotations

import json
import signal
import time

import pytest

from visionfit.data.synthetic import make_shapes_dataset


@pytest.fixture(scope="module")
def train_jobs(jobs, vf, ws, h, split_data, csv_data, shapes, resnet18_weights):
    """Queue this module's training commands (two at a time, beside the tests)."""
    cwd = ws / "train"
    jobs.submit("train-split", lambda: vf("train", split_data, *h.TINY, cwd=cwd / "split"))
    jobs.submit(
        "train-csv",
        lambda: vf(
            "train", "--csv", csv_data / "train.csv", "--root", csv_data / "images",
            "--image-col", "id", "--label-col", "label", "--image-ext", ".png",
            *h.TINY, cwd=cwd / "csv",
        ),
    )  # fmt: skip
    jobs.submit(
        "train-gray",
        lambda: vf(
            "train", shapes, "--in-chans", "1", "--model", "resnet18",
            "--weights", resnet18_weights, "--img-size", "32", "--epochs", "1",
            cwd=cwd / "gray",
        ),
    )  # fmt: skip
    return jobs


def test_train_class_folders_writes_the_run_directory(single_run, h):
    """README: visionfit train DATA --model simple_cnn --epochs 10 --img-size 64"""
    h.assert_run_dir(single_run)
    assert single_run.parent.name == "runs" and single_run.name.startswith("simple_cnn-")
    assert json.loads((single_run / "classes.json").read_text()) in (
        ["circle", "square", "triangle"],
        {"classes": ["circle", "square", "triangle"]},
    )
    splits = h.read_csv(single_run / "splits.csv")
    assert list(splits[0]) == ["image", "label", "split"] and len(splits) == 42
    assert {r["split"] for r in splits} == {"train", "val"}
    metrics = h.read_csv(single_run / "metrics.csv")
    assert len(metrics) == 1 and {"epoch", "train_loss", "val_loss", "val_acc", "lr"} <= set(
        metrics[0]
    )
    assert list(h.read_csv(single_run / "skipped.csv")) == []
    summary = json.loads((single_run / "summary.json").read_text())
    assert "cache" in json.dumps(summary)
    model = json.loads((single_run / "model.json").read_text())
    assert "simple_cnn" in json.dumps(model) and "32" in json.dumps(model)


def test_train_given_split_is_used_as_given(train_jobs, h, split_data):
    """README: visionfit train DATA   (DATA/train/<class>/ + DATA/val/<class>/)"""
    run = train_jobs.get("train-split").ok().run_dir()
    h.assert_run_dir(run)
    splits = h.read_csv(run / "splits.csv")
    val = {r["image"].replace("\\", "/").split("/")[-1] for r in splits if r["split"] == "val"}
    assert val == {p.name for p in (split_data / "val").glob("*/*.png")}
    assert sum(r["split"] == "train" for r in splits) == 30


def test_train_kaggle_csv_with_image_ext(train_jobs, h):
    """README: visionfit train --csv train.csv --root images/ --image-col id --label-col label
    --image-ext .png"""
    run = train_jobs.get("train-csv").ok().run_dir()
    h.assert_run_dir(run)
    assert len(h.read_csv(run / "splits.csv")) == 30
    assert h.read_csv(run / "skipped.csv") == []


def test_train_grayscale_timm_backbone_local_weights(train_jobs, h):
    """README: visionfit train DATA --in-chans 1 --model resnet18 --weights resnet18.safetensors"""
    res = train_jobs.get("train-gray").ok()
    run = res.run_dir()
    h.assert_run_dir(run)
    model = json.loads((run / "model.json").read_text())
    text = json.dumps(model)
    assert "resnet18" in text
    assert model.get("in_chans", model.get("input", {}).get("in_chans", 1)) == 1, text


def test_predict_folders_files_and_csv(vf, single_run, new_images, h):
    """README: visionfit predict RUN new_images/ one.png list.csv --out preds.csv [--tta]"""
    cwd = new_images
    vf("predict", single_run, "new_images/", "one.png", "list.csv", "--out", "preds.csv", "--tta",
       cwd=cwd).ok()  # fmt: skip
    rows = h.read_csv(cwd / "preds.csv")
    assert len(rows) == 6  # 4 in the folder (recursively), one file, one CSV row
    assert list(rows[0])[:2] == ["image", "pred"]
    assert {f"prob_{c}" for c in ("circle", "square", "triangle")} <= set(rows[0])
    for r in rows:
        assert r["pred"] in ("circle", "square", "triangle")
        total = sum(float(r[f"prob_{c}"]) for c in ("circle", "square", "triangle"))
        assert abs(total - 1) < 1e-4
    # "An existing --out is never overwritten"
    before = (cwd / "preds.csv").read_bytes()
    h.one_line_error(vf("predict", single_run, "one.png", "--out", "preds.csv", cwd=cwd))
    assert (cwd / "preds.csv").read_bytes() == before


def test_errors_are_one_line_exit_2(vf, ws, shapes, csv_data, h):
    """README "Errors": a missing path, an empty folder, a missing CSV column, an unknown model,
    pretrained weights that cannot be had offline: one line, exit 2, no traceback."""
    cwd = ws / "errors"
    (cwd / "empty").mkdir(parents=True)
    assert "nowhere" in h.one_line_error(vf("train", "nowhere", cwd=cwd))
    h.one_line_error(vf("train", "empty", cwd=cwd))
    line = h.one_line_error(
        vf("train", "--csv", csv_data / "train.csv", "--image-col", "file", cwd=cwd)
    )
    assert "id" in line and "label" in line  # the columns are listed
    line = h.one_line_error(vf("train", shapes, "--model", "resnet_18", *h.TINY[2:], cwd=cwd))
    assert "resnet18" in line  # close timm names are suggested
    h.one_line_error(
        vf("train", shapes, "--model", "resnet18", "--pretrained", *h.TINY[2:], cwd=cwd)
    )
    assert not (cwd / "runs").exists() or not any((cwd / "runs").glob("*/model.safetensors"))


def test_check_folder_writes_the_json_report(vf, ws, shapes):
    """README: visionfit check DATA [--out report.json]"""
    cwd = ws / "check"
    before = sorted(p.name for p in shapes.rglob("*"))
    res = vf("check", shapes, "--out", "report.json", cwd=cwd).ok()
    report = json.loads((cwd / "report.json").read_text())
    assert "circle" in json.dumps(report) and "triangle" in res.out
    assert sorted(p.name for p in shapes.rglob("*")) == before  # nothing in DATA is written
    # an existing --out is never overwritten
    assert vf("check", shapes, "--out", "report.json", cwd=cwd).rc == 2


def test_check_kaggle_csv(vf, ws, csv_data):
    """README: visionfit check --csv train.csv --root images/ --image-col id --image-ext .png"""
    res = vf(
        "check", "--csv", "train.csv", "--root", "images/", "--image-col", "id",
        "--image-ext", ".png", cwd=csv_data,
    ).ok()  # fmt: skip
    assert "30" in res.out


def test_check_unusable_data_exits_1(vf, ws, data):
    """README: exit code 1 when the data cannot be trained on (a class left without usable
    images, with one line saying which); every unusable file with its reason."""
    root = data / "broken"
    make_shapes_dataset(root, n_per_class=3, classes=("good",), seed=5)
    (root / "bad").mkdir()
    (root / "bad" / "a.png").write_bytes(b"")
    (root / "bad" / "b.png").write_bytes(b"not an image")
    res = vf("check", root, cwd=ws / "check-broken")
    assert res.rc == 1, res.tail()
    assert "zero bytes" in res.out and "not an image" in res.out and "bad" in res.out + res.err


def test_resume_a_killed_run_continues_in_the_same_directory(vf, vf_popen, ws, shapes, h):
    """README: visionfit train DATA --epochs 50 --checkpoint-steps 500  (killed)
    visionfit train --resume runs/simple_cnn-...  (continues in the same directory)"""
    cwd = ws / "resume"
    args = ("train", shapes, "--model", "simple_cnn", "--img-size", "32", "--batch-size", "8")
    proc = vf_popen(*args, "--epochs", "4", "--patience", "0", "--checkpoint-steps", "2", cwd=cwd)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        metrics = list((cwd / "runs").glob("*/metrics.csv"))
        if metrics and len(h.read_csv(metrics[0])) >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    assert proc.wait(30) == -signal.SIGKILL, (cwd / "proc.err").read_text()[-3000:]
    (run,) = (cwd / "runs").iterdir()
    assert not (run / "model.safetensors").exists()
    first = h.read_csv(run / "metrics.csv")[0]
    res = vf("train", "--resume", run.relative_to(cwd), cwd=cwd).ok()
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == [run.name]  # same directory
    metrics = h.read_csv(run / "metrics.csv")
    assert [int(r["epoch"]) for r in metrics] == [0, 1, 2, 3], res.tail()
    assert metrics[0] == first  # the rows before the kill are kept
    h.assert_run_dir(run)
    # a finished run is refused
    h.one_line_error(vf("train", "--resume", run, cwd=cwd))
