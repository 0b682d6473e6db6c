"""README "Speed, several processes and GPUs", "The best model a budget allows: visionfit auto"
and "Two commands" (`make demo` is `visionfit demo`): the shell examples as subprocesses."""

from __future__ import annotations

import json
import signal
import time

import pytest


@pytest.fixture(scope="module")
def auto_jobs(jobs, vf, vf_popen, ws, h, binary, shapes):
    cwd = ws / "auto"

    def killed_then_resumed():
        """`auto DATA --budget 90s`, SIGKILLed once auto.json records a finished stage, then
        `auto --resume AUTO_DIR --budget 60s`."""
        proc = vf_popen("auto", binary, "--budget", "90s", "--candidates", "simple_cnn", cwd=cwd)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if list((cwd / "runs").glob("auto-*/auto.json")):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        killed = proc.wait(60) == -signal.SIGKILL
        (auto_dir,) = (cwd / "runs").glob("auto-*")
        again = vf("auto", "--resume", auto_dir.relative_to(cwd), "--budget", "60s", cwd=cwd)
        return killed, auto_dir, again

    jobs.submit("auto", killed_then_resumed)
    jobs.submit(
        "auto-best",
        lambda: vf("auto", shapes, "--budget", "90s", "--recipe", "best", "--test-fraction",
                   "0.1", "--candidates", "simple_cnn", cwd=ws / "auto-best"),
    )  # fmt: skip
    jobs.submit(
        "ddp",
        lambda: vf("train", shapes, "--devices", "2", "--strategy", "ddp", "--accelerator",
                   "cpu", *h.TINY, cwd=ws / "ddp"),
    )  # fmt: skip
    jobs.submit("demo", lambda: vf("demo", "--epochs", "1", cwd=ws / "demo"))
    return jobs


def test_demo(auto_jobs, ws):
    """README: make demo   -> `visionfit demo` (make demo only adds creating .venv and pip
    install, which need the network; `make test` is CI itself and is not run here)"""
    res = auto_jobs.get("demo").ok()
    # the digits are written as PNGs under $VISIONFIT_CACHE, never into the working folder
    assert len(list((ws / "vf-cache").rglob("digit_*.png"))) == 1797
    assert "test" in res.out.lower() and "runs/" in res.out


def test_ddp_two_cpu_processes(auto_jobs, h):
    """README: visionfit train DATA --devices 2 --strategy ddp --accelerator cpu  (gloo)"""
    run = auto_jobs.get("ddp").ok().run_dir()
    h.assert_run_dir(run)
    assert len(h.read_csv(run / "metrics.csv")) == 1


def test_ddp_four_gpus():
    """README: visionfit train DATA --devices 4 --strategy ddp   (4 GPUs on one machine)"""
    pytest.skip("needs 4 GPUs; the 2-process CPU run above covers the same DDP path")


@pytest.mark.skip(reason="torchrun across 2 machines (--nnodes 2, a HOST:29500 rendezvous) "
                  "needs a second machine")  # fmt: skip
def test_torchrun_several_machines():
    """README: VISIONFIT_RUN_DIR=runs/exp1 torchrun --nnodes 2 --nproc-per-node 4 ... -m
    visionfit.cli train DATA --devices 4 --num-nodes 2 --strategy ddp"""


def test_auto_budget(auto_jobs, h):
    """README: visionfit auto DATA --budget 30m   (90 s here, one candidate; this run is killed
    and resumed below, so what it promises is checked on the finished directory)"""
    _, auto_dir, again = auto_jobs.get("auto")
    again.ok()
    info = json.loads((auto_dir / "auto.json").read_text())
    assert info.get("best_run"), info
    assert (auto_dir / "leaderboard.csv").is_file() and (auto_dir / "splits.csv").is_file()
    assert (auto_dir / "best" / "model.json").is_file()  # AUTO_DIR/best links to the best run
    assert "leaderboard" in again.out


def test_auto_recipe_best_with_a_test_split(auto_jobs, h):
    """README: visionfit auto DATA --budget 10m --recipe best --test-fraction 0.1"""
    res = auto_jobs.get("auto-best").ok()
    auto_dir = next((res.cwd / "runs").glob("auto-*"))
    splits = h.read_csv(auto_dir / "splits.csv")
    assert sum(r["split"] == "test" for r in splits) in (4, 5)
    assert "test" in res.out and (auto_dir / "leaderboard.csv").is_file()


def test_auto_resume_keeps_finished_stages(auto_jobs):
    """README: visionfit auto --resume runs/auto-20260101-120000   (after a kill)"""
    killed, auto_dir, again = auto_jobs.get("auto")
    assert killed, "the auto run finished before it could be killed"
    again.ok()
    runs = auto_dir.parent
    assert [p.name for p in runs.iterdir() if p.name.startswith("auto-")] == [auto_dir.name]


def test_predict_with_the_best_auto_run(auto_jobs, vf, new_images, h):
    """README: visionfit predict runs/auto-20260101-120000/best new_images/"""
    _, auto_dir, again = auto_jobs.get("auto")
    vf("predict", auto_dir / "best", "new_images/", "--out", "auto-preds.csv", cwd=new_images).ok()
    rows = h.read_csv(new_images / "auto-preds.csv")
    assert len(rows) == 4 and {"prob_circle", "prob_square"} <= set(rows[0])
