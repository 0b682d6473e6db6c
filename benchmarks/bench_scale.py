"""Start-up at scale: seconds and peak RSS per stage on 10k / 100k / 1M tiny images.

    python benchmarks/bench_scale.py --quick   # 2,000 images: a smoke check
    python benchmarks/bench_scale.py --sizes 10000,100000,1000000 --data-root /big/disk/scale

For each size, N distinct 8x8 PNGs in 10 class folders (written once under --data-root and reused
by later runs), then each stage in its own child process, so that its peak RSS is its own
(`os.wait4`'s rusage of that child):

  cold scan    `visionfit check DATA` with an empty scan cache
  warm scan    the same again (every file from the cache)
  split        the samples table and the hold-out split (`load_samples`, `holdout_split`)
  cache build  the decode-once cache at 16 px (`DecodedCache.build`, --cache auto)
  first epoch  `visionfit train DATA --model simple_cnn --img-size 16 --epochs 1` (warm scan)
  predict      `visionfit predict RUN DATA`

and prints seconds, peak RSS and bytes per file: the stage's peak RSS less its peak RSS on 100
images (imports, the model, fixed buffers), over the extra files. Timings mean something only on
an otherwise idle machine; peak RSS does not depend on it.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

N_CLASSES = 10
PIXELS = 8
_PY = sys.executable
_VF = str(Path(_PY).with_name("visionfit"))

# Each stage's child: a command line, run with cwd = the size's work folder.
_SPLIT = """
import sys
from visionfit.config import DataConfig
from visionfit.data.sources import load_samples
from visionfit.data.splits import holdout_split
s = load_samples(DataConfig(path=sys.argv[1]))
out = holdout_split(s.df, 0.2, 42)
print(int((out["split"] == "val").sum()), "val")
"""
_CACHE = """
import sys
from visionfit.config import DataConfig
from visionfit.data.cache import DecodedCache
from visionfit.data.sources import load_samples
s = load_samples(DataConfig(path=sys.argv[1]))
c = DecodedCache.build(list(s.df["image"]), size=16, mode="auto")
print(c.describe())
"""
REFERENCE = 100  # files: the size whose peak RSS each stage's bytes per file are counted from


def png_bytes(i: int) -> bytes:
    """A distinct 8x8 RGB PNG for every i (its pixels spell i), about 100-200 bytes."""
    rng = np.random.default_rng(i)
    arr = rng.integers(0, 256, (PIXELS, PIXELS, 3), dtype=np.uint8)
    arr[0, 0] = [(i >> 16) & 255, (i >> 8) & 255, i & 255]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def make_dataset(root: Path, n: int) -> Path:
    """root/n<N>/c<k>/<i>.png, N distinct images; reused when it is complete already."""
    data = root / f"n{n}"
    done = data / ".complete"
    if done.exists():
        return data
    for k in range(N_CLASSES):
        (data / f"c{k}").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    step = 10_000
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:  # a million files: minutes, not ten
        list(pool.map(_write_images, [data] * len(range(0, n, step)), range(0, n, step),
                      [min(n, i + step) for i in range(0, n, step)]))  # fmt: skip
    done.write_text(str(n))
    print(f"wrote {n:,} images to {data} in {time.perf_counter() - t0:.1f} s", flush=True)
    return data


def _write_images(data: Path, start: int, stop: int) -> None:
    for i in range(start, stop):
        (data / f"c{i % N_CLASSES}" / f"{i:08d}.png").write_bytes(png_bytes(i))


def run_stage(args: list[str], cwd: Path, env: dict) -> tuple[float, int, int]:
    """(seconds, peak RSS in bytes, exit code) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    if rc != 0:
        print(f"  {' '.join(args[:3])} ... failed ({rc}):\n{err[-2000:]}", file=sys.stderr)
    return seconds, usage.ru_maxrss * 1024, rc


def _run_dir(work: Path) -> str:
    """The run `first epoch` made (none: a path that predict refuses, named in its error)."""
    runs = sorted((work / "runs").glob("scale*"))
    return str(runs[-1] if runs else work / "runs" / "scale")


def stages(data: Path, work: Path) -> list[tuple[str, Callable[[], list[str]]]]:
    """(name, its command line) in order; predict's needs the run the epoch made."""
    tiny = ["--model", "simple_cnn", "--img-size", "16", "--epochs", "1", "--batch-size", "64"]
    train = [_VF, "train", str(data), *tiny, "--name", "scale", "--runs-dir", str(work / "runs")]
    return [
        ("cold scan", lambda: [_VF, "check", str(data)]),
        ("warm scan", lambda: [_VF, "check", str(data)]),
        ("split", lambda: [_PY, "-c", _SPLIT, str(data)]),
        ("cache build", lambda: [_PY, "-c", _CACHE, str(data)]),
        ("first epoch", lambda: train),
        ("predict", lambda: [_VF, "predict", _run_dir(work), str(data), "-o", "p.csv"]),
    ]


def run_size(n: int, data_root: Path, wanted: set[str] | None) -> dict[str, tuple]:
    """{stage: (seconds, peak RSS, exit code)} on n generated images, in a fresh work folder
    (its own empty scan and decoded caches)."""
    data = make_dataset(data_root, n)
    work = Path(tempfile.mkdtemp(prefix=f"scale{n}-"))
    env = {**os.environ, "VISIONFIT_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1"}
    env["VISIONFIT_PROGRESS_SECONDS"] = "3600"
    out = {}
    try:
        for name, args in stages(data, work):
            if wanted is None or name in wanted:
                out[name] = run_stage(args(), work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated")
    ap.add_argument("--quick", action="store_true", help="one size of 2,000 images")
    ap.add_argument("--data-root", type=Path, help="generated datasets (kept; default: a temp dir)")
    ap.add_argument("--stages", help="comma-separated stage names to run (default: all)")
    args = ap.parse_args()
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    wanted = {s.strip() for s in args.stages.split(",")} if args.stages else None
    root = args.data_root or Path(tempfile.mkdtemp(prefix="scale-data-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"python {' '.join(sys.argv)} on {os.cpu_count()} CPUs", flush=True)
    # bytes per file: a stage's peak RSS over its peak on REFERENCE files (imports, model, ...)
    ref = run_size(REFERENCE, root, wanted)
    print(f"{'files':>10} {'stage':<12} {'seconds':>9} {'peak MB':>9} {'bytes/file':>11}")
    for n in sizes:
        for name, (seconds, rss, rc) in run_size(n, root, wanted).items():
            per_file = (rss - ref[name][1]) / (n - REFERENCE) if n > REFERENCE else float("nan")
            print(
                f"{n:>10,} {name:<12} {seconds:9.1f} {rss / 2**20:9.0f} {per_file:11.0f}"
                + ("" if rc == 0 and ref[name][2] == 0 else "  (failed)"),
                flush=True,
            )
    if args.data_root is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
