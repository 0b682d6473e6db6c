"""How long the data scan (`visionfit check`, and the scan before `train`) takes.

    python benchmarks/bench_scan.py [--n 2000] [--size 128]

Writes N generated images (half PNG, half JPEG, 5% broken) to a temporary folder, then times the
scan with 1 thread, with the default number of threads, and again with a warm cache (no decoding).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from visionfit.data.check import default_threads, scan_files
from visionfit.data.scan_cache import ScanCache
from visionfit.data.synthetic import draw_shape, write_broken_files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        rng = np.random.default_rng(0)
        n_bad = args.n // 20
        for i in range(args.n - n_bad):
            ext = ".png" if i % 2 else ".jpg"
            draw_shape("circle", args.size, rng).save(root / f"img_{i:05d}{ext}")
        write_broken_files(root / "bad", n_bad, size=args.size)
        paths = sorted(str(p) for p in root.rglob("*") if p.is_file())
        os.environ["VISIONFIT_CACHE"] = str(Path(tmp) / "cache")
        rows = []
        for label, threads, cached in (
            ("1 thread, no cache", 1, False),
            (f"{default_threads()} threads, no cache", None, False),
            (f"{default_threads()} threads, warm cache", None, True),
        ):
            cache = ScanCache.open({"max_pixels": 64_000_000}) if cached else ScanCache.disabled()
            if cached:  # fill it first
                scan_files(paths, max_pixels=64_000_000, cache=cache)
            t0 = time.perf_counter()
            res = scan_files(paths, max_pixels=64_000_000, threads=threads, cache=cache)
            dt = time.perf_counter() - t0
            cache.close()
            bad = sum(not f.ok for f in res.files)
            rows.append((label, dt, len(paths) / dt, res.decoded, bad))
        print(f"{len(paths)} files of {args.size}x{args.size} px on {os.cpu_count()} CPUs")
        for label, dt, rate, decoded, bad in rows:
            print(f"  {label:28s} {dt:7.2f} s  {rate:8.0f} files/s  decoded {decoded}, bad {bad}")


if __name__ == "__main__":
    main()
