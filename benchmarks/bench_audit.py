"""How well `visionfit audit` finds labels that are known to be wrong.

    python benchmarks/bench_audit.py [--per-class 100] [--flip 0.10] [--folds 3] [--epochs 8]

Generates learnable data (visionfit.data.synthetic shapes, 32 px), moves a known share of the
files into another class's folder (their label flipped), trains `visionfit train DATA --folds K`
(a small CNN, few epochs), runs `visionfit audit RUN`, and prints precision and recall of:

- the flagged set (confident learning, label_issues.csv rows with flagged = True);
- label_issues.csv read top-down to 1.5x the number of flipped labels (flagged rows, then the
  further candidates);
- for comparison, the plain ranking by lowest self-confidence p(given label) of the same oof.csv,
  at the flagged count, at 1.5x the flagged count and at 1.5x the number of flipped labels.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from visionfit.data.synthetic import make_shapes_dataset

CLASSES = ("circle", "square", "triangle")


def vf(*args, cwd: Path) -> str:
    cmd = [sys.executable, "-m", "visionfit.cli", *map(str, args)]
    env = {**os.environ, "COLUMNS": "200"}  # one summary line, unwrapped
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return res.stdout


def flip_labels(root: Path, share: float, seed: int) -> set[str]:
    """Move `share` of the files into another (random) class folder; their resolved paths."""
    rng = np.random.default_rng(seed)
    files = sorted(root.glob("*/*.png"))
    chosen = rng.choice(len(files), int(round(share * len(files))), replace=False)
    flipped = set()
    for i in chosen:
        p = files[i]
        others = [c for c in CLASSES if c != p.parent.name]
        dst = root / others[int(rng.integers(len(others)))] / p.name
        shutil.move(p, dst)
        flipped.add(str(dst.resolve()))
    return flipped


def pr(found: list[str], truth: set[str]) -> tuple[float, float, int]:
    hit = sum(1 for f in found if f in truth)
    return (hit / len(found) if found else float("nan"), hit / len(truth), len(found))


def self_confidence_ranking(oof: Path) -> list[str]:
    with open(oof, newline="") as f:
        rows = list(csv.DictReader(f))
    conf = [float(r[f"prob_{r['label']}"]) for r in rows]
    order = np.argsort(conf, kind="stable")
    return [str(Path(rows[i]["image"]).resolve()) for i in order]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--flip", type=float, default=0.10)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--model", default="simple_cnn")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        root = make_shapes_dataset(cwd / "data", args.per_class, classes=CLASSES, seed=args.seed)
        flipped = flip_labels(root, args.flip, args.seed)
        t0 = time.perf_counter()
        vf("train", "data", "--folds", args.folds, "--model", args.model, "--img-size", 32,
           "--epochs", args.epochs, "--batch-size", 16, cwd=cwd)  # fmt: skip
        t_train = time.perf_counter() - t0
        run = next((cwd / "runs").glob("*-cv-*"))
        t0 = time.perf_counter()
        out = vf("audit", run, cwd=cwd)
        t_audit = time.perf_counter() - t0
        with open(run / "audit" / "label_issues.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        listed = [str(Path(r["image"]).resolve()) for r in rows]
        flagged = [p for p, r in zip(listed, rows, strict=True) if r["flagged"] == "True"]
        plain = self_confidence_ranking(run / "oof.csv")
        n, k = len(plain), len(flipped)
        lines = [
            ("confident learning: flagged set", pr(flagged, flipped)),
            ("label_issues.csv, first 1.5x flipped rows", pr(listed[: int(1.5 * k)], flipped)),
            ("plain self-confidence, flagged count", pr(plain[: len(flagged)], flipped)),
            ("plain self-confidence, 1.5x flagged", pr(plain[: int(1.5 * len(flagged))], flipped)),
            ("plain self-confidence, 1.5x flipped", pr(plain[: int(1.5 * k)], flipped)),
        ]
    print(f"# {' '.join(sys.argv)}")
    print(
        f"{n} images, {k} flipped ({100 * k / n:.1f} %), {args.folds} folds, {args.model}, "
        f"{args.epochs} epochs; train {t_train:.0f} s, audit {t_audit:.0f} s"
    )
    print(out.strip().splitlines()[0])
    print(f"{'ranking':<44} {'rows':>5} {'precision':>9} {'recall':>7}")
    for name, (p, r, m) in lines:
        print(f"{name:<44} {m:>5} {p:>9.3f} {r:>7.3f}")


if __name__ == "__main__":
    main()
