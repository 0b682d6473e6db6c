"""The acceptance suite's helpers: the installed `visionfit` run as a subprocess, tiny generated
datasets, and the few finished runs every test shares.

Nothing of visionfit is imported, faked or patched here: every command is the real console
script (or `python -m visionfit.cli` when there is none) in a child process, with the network
off for Hugging Face (`HF_HUB_OFFLINE=1`), a throw-away HOME and cache, and one thread per process.

Start-up dominates (importing torch + Lightning takes several seconds per command), so the
training commands go through `jobs`: a pool of two background workers that a module fills with
all its commands when its first test starts, while the tests take the results in order. The
shared runs (one single run, one baseline + 2-fold CV run on the baseline's folds, one
segmentation run) are queued first, at the start of the session, those the collected tests use.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset

_EXE = Path(sys.executable).with_name("visionfit")
VF = [str(_EXE)] if _EXE.exists() else [sys.executable, "-m", "visionfit.cli"]
TIMEOUT = 900  # a hang guard; `make test` runs two test workers, each with two jobs
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.acceptance)


@dataclass
class Result:
    """One finished command: its exit code, output and the folder it ran in."""

    args: tuple
    rc: int
    out: str
    err: str
    cwd: Path

    def __iter__(self):  # rc, out, err = vf(...)
        return iter((self.rc, self.out, self.err))

    def ok(self) -> Result:
        assert self.rc == 0, f"visionfit {' '.join(self.args)} -> {self.rc}\n{self.tail()}"
        return self

    def tail(self, n: int = 4000) -> str:
        return f"--- stdout\n{self.out[-n:]}\n--- stderr\n{self.err[-n:]}"

    def run_dir(self, pattern: str = "*") -> Path:
        """The run directory the command printed (`run runs/...`), else the one it created."""
        m = re.search(r"^(?:run|cv run|baseline run)\s*:?\s+(\S+)\s*$", self.out, re.M)
        if m and (self.cwd / m.group(1)).is_dir():
            return (self.cwd / m.group(1)).resolve()
        found = sorted((self.cwd / "runs").glob(pattern))
        found = [p for p in found if p.is_dir() and (p / "config.yaml").exists()]
        assert len(found) == 1, f"no single run dir among {found}\n{self.tail()}"
        return found[0]


def one_line_error(res: Result) -> str:
    """A documented user error: exit 2, one line, no traceback. Returns the line."""
    assert res.rc == 2, res.tail()
    text = (res.err + res.out).strip()
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="session")
def ws(tmp_path_factory) -> Path:
    """The session's workspace: home/, cache/, data/ and one folder per command group."""
    return tmp_path_factory.mktemp("acceptance")


@pytest.fixture(scope="session")
def base_env(ws) -> dict:
    home = ws / "home"
    (home / ".cache").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("VISIONFIT_") or key in ("MLFLOW_TRACKING_URI",):
            del env[key]
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        VISIONFIT_CACHE=str(ws / "vf-cache"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(home / ".cache" / "huggingface"),
        TORCH_HOME=str(home / ".cache" / "torch"),
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        NUMEXPR_NUM_THREADS="1",
        COLUMNS="200",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def vf(base_env):
    """vf(*args, cwd, env=None, timeout=...) -> Result of `visionfit ARGS` run in `cwd`."""

    def run(*args, cwd: Path, env: dict | None = None, timeout: float = TIMEOUT) -> Result:
        cwd = Path(cwd)
        cwd.mkdir(parents=True, exist_ok=True)
        args = tuple(str(a) for a in args)
        proc = subprocess.run(
            [*VF, *args],
            cwd=cwd,
            env={**base_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(args, proc.returncode, proc.stdout, proc.stderr, cwd)

    return run


@pytest.fixture(scope="session")
def vf_popen(base_env):
    """vf_popen(*args, cwd, env=None) -> a running `visionfit ARGS` (Popen, output to files)."""

    def start(*args, cwd: Path, env: dict | None = None, log: str = "proc") -> subprocess.Popen:
        cwd = Path(cwd)
        cwd.mkdir(parents=True, exist_ok=True)
        out = open(cwd / f"{log}.out", "w")  # noqa: SIM115 - closed with the process
        err = open(cwd / f"{log}.err", "w")  # noqa: SIM115
        return subprocess.Popen(
            [*VF, *map(str, args)],
            cwd=cwd,
            env={**base_env, **(env or {})},
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    return start


class Jobs:
    """Two background workers; `submit(key, fn)` queues fn(), `get(key)` waits for its value."""

    def __init__(self, workers: int = 2):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vf-job")
        self.futures: dict[str, Future] = {}

    def submit(self, key: str, fn) -> None:
        # keys are session-wide: a second module reusing one would silently get the first's
        # result (it did: two "demo" jobs)
        if key in self.futures:
            raise ValueError(f"acceptance job {key!r} submitted twice; give it its own key")
        self.futures[key] = self.pool.submit(fn)

    def get(self, key: str):
        return self.futures[key].result()

    def ensure(self, key: str, fn):
        """The value of job `key`, queued now with fn() unless it was queued already."""
        if key not in self.futures:
            self.submit(key, fn)
        return self.get(key)


@pytest.fixture(scope="session")
def jobs():
    j = Jobs(workers=int(os.environ.get("VISIONFIT_ACCEPTANCE_JOBS", "2")))
    yield j
    j.pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- generated data (tiny, 32 px)


@pytest.fixture(scope="session")
def data(ws) -> Path:
    return ws / "data"


@pytest.fixture(scope="session")
def shapes(data) -> Path:
    """DATA/<class>/*.png: circle, square, triangle, 14 each, 32 px (learnable)."""
    return make_shapes_dataset(data / "shapes", n_per_class=14, seed=0)


@pytest.fixture(scope="session")
def binary(data) -> Path:
    """Two classes (circle, square), 16 each: the cross-validation and baseline data."""
    two = ("circle", "square")
    return make_shapes_dataset(data / "binary", n_per_class=16, classes=two, seed=1)


@pytest.fixture(scope="session")
def split_data(data) -> Path:
    """An already split DATA/train/<class>/ + DATA/val/<class>/."""
    root = data / "split"
    make_shapes_dataset(root / "train", n_per_class=10, seed=2)
    make_shapes_dataset(root / "val", n_per_class=4, seed=3)
    return root


@pytest.fixture(scope="session")
def csv_data(data) -> Path:
    """A Kaggle-style folder: train.csv (id without extension, label) + images/<id>.png."""
    root = data / "kaggle"
    src = make_shapes_dataset(data / "kaggle-src", n_per_class=10, seed=4)
    (root / "images").mkdir(parents=True)
    rows = []
    for i, path in enumerate(sorted(src.glob("*/*.png"))):
        shutil.copy(path, root / "images" / f"img{i:03d}.png")
        rows.append((f"img{i:03d}", path.parent.name))
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        w.writerows(rows)
    return root


@pytest.fixture(scope="session")
def new_images(data, shapes) -> Path:
    """Files to predict: new_images/ (a folder, nested), one.png, list.csv (an `image` column)."""
    root = data / "predict"
    src = make_shapes_dataset(data / "predict-src", n_per_class=2, seed=9)
    (root / "new_images" / "sub").mkdir(parents=True)
    files = sorted(src.glob("*/*.png"))
    for i, p in enumerate(files[:4]):
        shutil.copy(p, root / "new_images" / ("sub" if i % 2 else "") / f"new_{i}.png")
    shutil.copy(files[4], root / "one.png")
    with open(root / "list.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image"])
        w.writerow([str(files[5])])
    return root


@pytest.fixture(scope="session")
def seg_data(data) -> Path:
    """DATA/images/*.png + DATA/masks/*.png (binary, 0/255), 20 images of 32 px."""
    return make_segmentation_dataset(data / "seg", 20, size=32, seed=0)


@pytest.fixture(scope="session")
def resnet18_weights(data) -> Path:
    """A local resnet18.safetensors (ImageNet-shaped head: skipped on load, as documented)."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = data / "resnet18.safetensors"
    model = timm.create_model("resnet18", pretrained=False, num_classes=1000)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def rgb_colour_masks(root: Path) -> Path:
    """Turn root/masks/* class-index PNGs (0..2) into RGB masks: 0 black, 1 red, 2 green."""
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    for path in (root / "masks").glob("*.png"):
        idx = np.asarray(Image.open(path))
        Image.fromarray(palette[idx], "RGB").save(path)
    return root


# ------------------------------------------------------------------------------ shared runs

TINY = ("--model", "simple_cnn", "--img-size", "32", "--epochs", "1", "--batch-size", "8")
SEG_TINY = ("--img-size", "32", "--epochs", "1", "--batch-size", "8", "--width", "8")


@pytest.fixture(scope="session")
def proj(ws) -> Path:
    """The folder the shared classification runs are trained in (their `./runs`)."""
    return ws / "proj"


# the shared runs' job keys and the fixtures that hand them to tests
SHARED = {
    "single": {"single_run"},
    "baseline+cv": {"baseline_run", "cv_run"},
    "segment": {"seg_run"},
}


@pytest.fixture(scope="session", autouse=True)
def shared_runs(request, jobs, vf, proj, ws, shapes, binary, seg_data) -> dict:
    """The shared runs' jobs, queued at session start so they train while the first tests run.
    Only the runs a collected test asks for (its fixtures) are queued, so a subset of the suite
    (one module, `-k`) trains nothing it does not use. Under `pytest -n` (xdist) every worker
    collects every test but runs only some files, so there each run is queued when a test
    first asks for it."""
    wanted = {name for item in request.session.items for name in item.fixturenames}

    def single():
        return vf("train", shapes, *TINY, cwd=proj).ok().run_dir("simple_cnn-2*")

    def baseline_and_cv():
        base = vf("baseline", binary, "--folds", "2", "--features", "hog", "--jobs", "1", cwd=proj)
        base_dir = base.ok().run_dir("baseline-rf-*")
        cv = vf("train", binary, "--folds-file", base_dir / "folds.csv", *TINY, "--refit", cwd=proj)
        return base_dir, cv.ok().run_dir("simple_cnn-cv-*"), cv

    def segment():
        return vf("train", seg_data, "--task", "segment", *SEG_TINY, cwd=ws / "seg").ok().run_dir()

    runs = {"single": single, "baseline+cv": baseline_and_cv, "segment": segment}
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        for key, fn in runs.items():
            if SHARED[key] & wanted:
                jobs.submit(key, fn)
    return runs


@pytest.fixture(scope="session")
def single_run(jobs, shared_runs) -> Path:
    """`visionfit train DATA --model simple_cnn --epochs 1 --img-size 32` (3 classes)."""
    return jobs.ensure("single", shared_runs["single"])


@pytest.fixture(scope="session")
def baseline_run(jobs, shared_runs) -> Path:
    """`visionfit baseline DATA --folds 2 --features hog` (binary)."""
    return jobs.ensure("baseline+cv", shared_runs["baseline+cv"])[0]


@pytest.fixture(scope="session")
def cv_run(jobs, shared_runs) -> Path:
    """`visionfit train DATA --folds-file BASELINE/folds.csv --epochs 1 --refit` (2 folds)."""
    return jobs.ensure("baseline+cv", shared_runs["baseline+cv"])[1]


@pytest.fixture(scope="session")
def seg_run(jobs, shared_runs) -> Path:
    """`visionfit train DATA --task segment` (binary masks, padded U-Net, width 8)."""
    return jobs.ensure("segment", shared_runs["segment"])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


RUN_FILES = (
    "config.yaml",
    "classes.json",
    "splits.csv",
    "metrics.csv",
    "timing.csv",
    "skipped.csv",
    "checkpoints/best.ckpt",
    "checkpoints/last.ckpt",
    "model.safetensors",
    "model.json",
    "summary.json",
    "curves.png",
    "report.html",
)


def assert_run_dir(run: Path, files=RUN_FILES) -> None:
    """The run directory layout the README's table promises."""
    missing = [f for f in files if not (run / f).is_file()]
    assert not missing, f"{run} lacks {missing}: has {sorted(p.name for p in run.iterdir())}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(proc, port: int, err_file: Path, start_seconds: float = 180):
    """The URL of a started `visionfit serve` once /health answers (the deadline only guards
    against a hang); the server is stopped with SIGTERM afterwards."""
    import signal
    import time

    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_seconds
    try:
        while True:
            assert proc.poll() is None, (
                f"serve exited {proc.returncode}:\n" + err_file.read_text()[-3000:]
            )
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not answer /health"
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except Exception:  # noqa: BLE001 - a server that ignores SIGTERM is killed
            proc.kill()
            raise


@pytest.fixture(scope="session")
def h():
    """The helpers for test modules (conftest is not importable under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        TINY=TINY,
        SEG_TINY=SEG_TINY,
        RUN_FILES=RUN_FILES,
        one_line_error=one_line_error,
        read_csv=read_csv,
        assert_run_dir=assert_run_dir,
        rgb_colour_masks=rgb_colour_masks,
        free_port=free_port,
        serving=serving,
    )
