"""Time `visionfit.fit` against a plain PyTorch loop on the same data, model and batches.

Both sides decode the same PNGs with the same albumentations pipeline, train simple_cnn with AdamW
for the same number of epochs and validate once per epoch. The ratio is visionfit's overhead
(Lightning, metrics, checkpoints, metrics.csv) over the bare loop.

    python benchmarks/bench_fit_vs_plain_loop.py [--n-per-class 200] [--epochs 3] [--img-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from visionfit.config import RunConfig
from visionfit.data.datasets import ImageDataset
from visionfit.data.sources import load_samples
from visionfit.data.splits import holdout_split
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.data.transforms import create_transforms
from visionfit.engine.fit import fit
from visionfit.models.simple import SimpleCNN


def plain_loop(cfg: RunConfig) -> float:
    samples = load_samples(cfg.data)
    df = holdout_split(samples.df, cfg.data.val_fraction, cfg.train.seed)
    tr, va = df[df["split"] == "train"], df[df["split"] == "val"]
    mean = std = (0.5, 0.5, 0.5)
    size = cfg.augment.img_size
    train_tf = create_transforms(cfg.augment.preset, size, mean, std, train=True)
    eval_tf = create_transforms("none", size, mean, std, train=False)
    bs = cfg.train.batch_size
    train_dl = DataLoader(ImageDataset(tr["image"], tr["target"], train_tf), bs, shuffle=True)
    val_dl = DataLoader(ImageDataset(va["image"], va["target"], eval_tf), bs)
    torch.manual_seed(cfg.train.seed)
    model = SimpleCNN(len(samples.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(cfg.train.epochs):
        model.train()
        for x, y in train_dl:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_dl:
                correct += (model(x).argmax(1) == y).sum().item()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--img-size", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_shapes_dataset(Path(tmp) / "data", n_per_class=args.n_per_class)
        cfg = RunConfig.from_dict(
            {
                "runs_dir": str(Path(tmp) / "runs"),
                "data": {"path": str(data), "workers": 0},
                "augment": {"preset": "light", "img_size": args.img_size},
                "train": {"epochs": args.epochs, "batch_size": 32, "patience": None},
            }
        )
        plain = plain_loop(cfg)
        t0 = time.perf_counter()
        result = fit(cfg, progress=False)
        vf_total = time.perf_counter() - t0
        vf_epochs = float(pd.read_csv(result.run_dir / "timing.csv")["seconds"].sum())
    n = 3 * args.n_per_class
    print(
        f"images: {n}, epochs: {args.epochs}, img_size: {args.img_size}, "
        f"threads: {torch.get_num_threads()}"
    )
    print(f"plain PyTorch loop (train+val)      : {plain:7.2f} s")
    print(
        f"visionfit epochs (timing.csv sum)  : {vf_epochs:7.2f} s  ratio {vf_epochs / plain:5.2f}x"
    )
    print(
        f"visionfit.fit end to end            : {vf_total:7.2f} s  ratio {vf_total / plain:5.2f}x"
    )


if __name__ == "__main__":
    main()
