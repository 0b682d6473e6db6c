"""README "Transfer learning, LR finder, hyperparameter search" and "Several machines on one
search": the shell examples as subprocesses (trials, epochs and sizes scaled down)."""

from __future__ import annotations

import pytest

SPACE = """\
lr: {low: 1.0e-4, high: 1.0e-2, log: true}
weight_decay: {low: 1.0e-6, high: 1.0e-2, log: true}
augment: [light, medium]
batch_size: [8, 16]
epochs: {low: 1, high: 2}              # integers give an integer range
train.label_smoothing: [0.0, 0.1]
"""


@pytest.fixture(scope="module")
def tune_jobs(jobs, vf, ws, h, binary, shapes, resnet18_weights):
    cwd = ws / "tune"
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "space.yaml").write_text(SPACE)
    T = ("--img-size", "32", "--epochs", "1")

    def tune_then_train():
        tune = vf("tune", binary, "--trials", "2", "--storage", "sqlite:///study.db", "--study",
                  "shapes", "--space", "space.yaml", *T, cwd=cwd)  # fmt: skip
        if tune.rc != 0:
            return tune, None
        return tune, vf("train", "--config", "runs/tune-shapes/best.yaml", cwd=cwd)

    jobs.submit("tune", tune_then_train)
    jobs.submit(
        "tune-journal",
        lambda: vf("tune", binary, "--trials", "1", "--study", "shapes", "--storage",
                   f"journal://{cwd / 'shared' / 'shapes.log'}", *T, cwd=cwd / "journal"),
    )  # fmt: skip
    jobs.submit(
        "finetune",
        lambda: vf("train", shapes, "--model", "efficientnet_lite0", "--pretrained",
                   "--finetune", "1", "--img-size", "32", "--epochs", "2",
                   cwd=ws / "finetune"),
    )  # fmt: skip
    jobs.submit(
        "lr-find",
        lambda: vf("lr-find", shapes, "--model", "resnet18", "--pretrained", "--weights",
                   resnet18_weights, "--img-size", "32", "--freeze", "backbone",
                   "--num-training", "10", "--out", "lr.png", cwd=ws / "lr-find"),
    )  # fmt: skip
    return jobs


def test_weights_lists_offline_weights(vf, ws):
    """README: visionfit weights   (what is available offline, and from where)"""
    res = vf("weights", cwd=ws / "weights").ok()
    assert "efficientnet_lite0" in res.out


def test_train_pretrained_finetune(tune_jobs, h):
    """README: visionfit train DATA --model efficientnet_lite0 --pretrained --finetune 1"""
    res = tune_jobs.get("finetune").ok()
    run = res.run_dir()
    h.assert_run_dir(run)
    cols = set(h.read_csv(run / "metrics.csv")[0])
    assert {"lr_head", "lr_backbone"} <= cols, cols
    rows = h.read_csv(run / "metrics.csv")
    assert float(rows[0]["lr_backbone"]) == 0 and float(rows[1]["lr_backbone"]) > 0


def test_lr_find(tune_jobs, ws):
    """README: visionfit lr-find DATA --model resnet18 --pretrained --img-size 128
    [--freeze backbone] [--out lr.png]   (the pretrained weights from a local file, offline)"""
    res = tune_jobs.get("lr-find").ok()
    assert (ws / "lr-find" / "lr.png").is_file()
    assert "lr" in res.out.lower()


def test_tune_sqlite_then_train_best(tune_jobs, ws, h):
    """README: visionfit tune DATA --trials 30 --storage sqlite:///study.db --study shapes
    [--space space.yaml] [--folds 5];  visionfit train --config runs/tune-shapes/best.yaml"""
    tune, train = tune_jobs.get("tune")
    tune.ok()
    out = ws / "tune" / "runs" / "tune-shapes"
    assert (ws / "tune" / "study.db").is_file()
    trials = h.read_csv(out / "trials.csv")
    assert len(trials) == 2
    assert (out / "best.yaml").is_file()
    train.ok()
    run = train.run_dir("simple_cnn-*")
    h.assert_run_dir(run)


def test_tune_journal_storage(tune_jobs, ws, h):
    """README: visionfit tune DATA --trials 60 --study shapes --storage journal:///shared/tune/
    shapes.log   (a local path stands for the shared filesystem)"""
    tune_jobs.get("tune-journal").ok()
    assert (ws / "tune" / "shared" / "shapes.log").is_file()
    assert len(h.read_csv(ws / "tune" / "journal" / "runs" / "tune-shapes" / "trials.csv")) == 1


def test_tune_journal_storage_as_a_log_path(vf, binary, tmp_path, h):
    """README: (a path ending in .log works too: --storage /shared/tune/shapes.log)"""
    journal = tmp_path / "shared" / "tune" / "shapes.log"
    journal.parent.mkdir(parents=True)
    vf("tune", binary, "--trials", "1", "--study", "shapes", "--storage", journal,
       "--img-size", "32", "--epochs", "1", cwd=tmp_path / "work").ok()  # fmt: skip
    assert journal.is_file() and journal.stat().st_size > 0
    assert len(h.read_csv(tmp_path / "work" / "runs" / "tune-shapes" / "trials.csv")) == 1
    assert not list(tmp_path.rglob("*.db")), "a .log path is a journal, not a SQLite file"


@pytest.mark.skip(reason="pip install needs PyPI (the network); psycopg2-binary is a dev extra")
def test_pip_install_tune_server():
    """README: pip install 'visionfit[tune-server]'"""


@pytest.mark.skip(reason="needs a PostgreSQL server on another host (db.example.org)")
def test_createdb_on_the_server():
    """README: createdb -h db.example.org -U me visionfit"""


@pytest.mark.skip(reason="needs a PostgreSQL server on another host (db.example.org)")
def test_tune_postgresql_storage():
    """README: visionfit tune DATA --trials 60 --study shapes --storage
    postgresql://me:PASSWORD@db.example.org/visionfit"""
