"""How long the near-duplicate search takes on many hashes (data/neardup.py).

    python benchmarks/bench_near_duplicates.py [--n 100000] [--distance 8]

Times the pair search, the pair table and the groups on N random 64-bit hashes (the search's
worst case for bucket sizes is many equal blocks; random hashes give the usual case), and one
pHash of a 512 px image (the cost the scan adds per image).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from visionfit.data.neardup import near_duplicate_groups, near_pairs, pair_table
from visionfit.data.scan import perceptual_hash


def _timed(what: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{what}: {time.perf_counter() - t:.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--distance", type=int, default=8)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    h = rng.integers(0, 2**64 - 1, size=args.n, dtype=np.uint64)
    pairs = _timed(
        f"near_pairs, {args.n} hashes, d={args.distance}", lambda: near_pairs(h, args.distance)
    )
    print(f"  {len(pairs)} pairs")
    images = [f"/data/{i}.png" for i in range(args.n)]
    phash = {p: f"{int(x):016x}" for p, x in zip(images, h, strict=True)}
    df = pd.DataFrame({"image": images, "label": "a", "split": "train"})
    _timed("pair_table (check)", lambda: pair_table(df, phash, args.distance))
    _timed(
        "near_duplicate_groups (--group-near-duplicates)",
        lambda: near_duplicate_groups(images, phash, args.distance),
    )
    arr = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    t = time.perf_counter()
    for _ in range(20):
        perceptual_hash(arr)
    print(f"pHash of a 512 px image: {(time.perf_counter() - t) / 20 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
