"""Training speed: `visionfit train` against a plain PyTorch loop and a tutorial-style loop.

Two generated datasets: small PNGs (32 px, `simple_cnn` at 32 px) and photo-sized JPEGs (640x480,
`resnet18` at 64 px). For each, the same network, split, batch size (32) and optimizer (AdamW),
timed per epoch (train + validation) after a warm-up epoch:

  (a) a plain loop over tensors already decoded and resized in memory (random flips on the
      tensors): the floor, the network's own speed;
  (b) a plain loop over a tutorial-style PIL `Dataset` that opens, converts and resizes each file
      every epoch (torchvision transforms), DataLoader with `--workers` workers;
  (c) `visionfit.fit` with default settings, epoch times read from the run's timing.csv;
  (d) fastai's `Learner` on the same folder and network, where fastai is installed.

Ratios are epoch-time ratios: c/a = 1.10 means visionfit takes 10% longer than the floor; b/c = 3
means the tutorial loop takes three times as long as visionfit.

    python benchmarks/bench_train.py [--epochs 3] [--n 600] [--threads 2] [--workers 0]
    python benchmarks/bench_train.py --study        # + num_workers 0/1/2 x torch threads 1/2
    python benchmarks/bench_train.py --device cuda  # + resnet50 224 px: channels-last/bf16/compile
    python benchmarks/bench_train.py --overhead     # per-epoch tax: 4,000 + 1,000 PNGs and
                                                    # 960 + 240 JPEGs, resnet18, s/epoch and c/a
    python benchmarks/bench_train.py --quick ...    # any of the above on tiny data: a smoke check

Timings on a machine shared with other work mean nothing; run it alone.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import tempfile
from pathlib import Path

import pandas as pd
import torch
from _common import (
    command_line,
    eval_epoch,
    make_photo_dataset,
    steady,
    table,
    time_epochs,
    train_epoch,
)
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset

from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset

BATCH = 32


class Case:
    """One dataset + network: the folder, the split, and the config visionfit trains with."""

    def __init__(self, label: str, data: Path, model: str, size: int, args, runs: Path):
        from visionfit.data.sources import load_samples
        from visionfit.data.splits import holdout_split

        self.label, self.data, self.model, self.size = label, data, model, size
        self.args, self.runs = args, runs
        self.cfg = RunConfig.from_dict(
            {
                "runs_dir": str(runs),
                "data": {"path": str(data)},
                "model": {"name": model},
                "augment": {"img_size": size},
                "train": {"epochs": args.epochs, "batch_size": BATCH},
            }
        )
        samples = load_samples(self.cfg.data)
        df = holdout_split(samples.df, self.cfg.data.val_fraction, self.cfg.train.seed)
        self.classes = samples.classes
        self.train = df[df["split"] == "train"]
        self.val = df[df["split"] == "val"]
        self.n = len(df)

    def network(self, device: str = "cpu"):
        from visionfit.models.factory import create_classifier

        torch.manual_seed(0)
        created = create_classifier(self.model, len(self.classes))
        return created.model.to(device), created.preprocessing


def _optim(model, fused: bool | None = None):
    return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=fused)


def _tensors(case: Case, rows, mean, std) -> TensorDataset:
    from visionfit.data.io import decode_image
    from visionfit.data.transforms import create_transforms

    tf = create_transforms("none", case.size, mean, std, train=False)
    xs = torch.stack([tf(image=decode_image(p))["image"] for p in rows["image"]])
    return TensorDataset(xs, torch.tensor(rows["target"].to_numpy()))


def run_floor(case: Case, epochs: int, fused: bool | None = None) -> float:
    """(a) tensors in memory, shuffled batches, a random horizontal flip per image; torch's
    default AdamW (tensor by tensor on the CPU), or with `fused` its one-kernel step, which
    visionfit uses where the device has it."""
    model, pre = case.network()
    train = _tensors(case, case.train, pre.mean, pre.std)
    val = _tensors(case, case.val, pre.mean, pre.std)
    opt, loss_fn = _optim(model, fused), torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)

    def batches():
        order = torch.randperm(len(train), generator=gen)
        for k in range(0, len(order), BATCH):
            x, y = train[order[k : k + BATCH]]
            if len(x) < 2:  # BatchNorm cannot train on one image (visionfit drops it too)
                continue
            flip = torch.rand(len(x), generator=gen) < 0.5
            yield torch.where(flip[:, None, None, None], x.flip(3), x), y

    def epoch():
        train_epoch(model, batches(), opt, loss_fn)
        eval_epoch(model, DataLoader(val, BATCH))

    return steady(time_epochs(epoch, epochs))


class TutorialDataset(Dataset):
    """The dataset of the PyTorch tutorials: PIL open + convert + torchvision transforms."""

    def __init__(self, rows, transform):
        self.paths, self.targets = list(rows["image"]), list(rows["target"])
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as img:
            return self.transform(img.convert("RGB")), int(self.targets[i])


def run_tutorial(case: Case, epochs: int, workers: int) -> float:
    """(b) files decoded every epoch by a PIL Dataset."""
    from torchvision import transforms as T

    model, pre = case.network()
    resize = T.Resize((case.size, case.size))
    norm = [T.ToTensor(), T.Normalize(pre.mean, pre.std)]
    train_tf = T.Compose([resize, T.RandomHorizontalFlip(), *norm])
    kw = {"num_workers": workers, "persistent_workers": workers > 0}
    train = DataLoader(TutorialDataset(case.train, train_tf), BATCH, shuffle=True, **kw)
    val = DataLoader(TutorialDataset(case.val, T.Compose([resize, *norm])), BATCH, **kw)
    opt, loss_fn = _optim(model), torch.nn.CrossEntropyLoss()

    def epoch():
        train_epoch(model, train, opt, loss_fn)
        eval_epoch(model, val)

    return steady(time_epochs(epoch, epochs))


def run_visionfit(case: Case, epochs: int, workers: int | None = None) -> float:
    """(c) `visionfit.fit` as `visionfit train` runs it; epoch times from timing.csv."""
    return _visionfit_run(case, epochs, workers)[0]


def _visionfit_run(case: Case, epochs: int, workers: int | None = None) -> tuple[float, Path]:
    from visionfit.engine.fit import fit

    cfg = case.cfg.with_overrides({"train.epochs": epochs, "train.patience": None})
    if workers is not None:
        cfg = cfg.with_overrides({"data.workers": workers})
    result = fit(cfg, progress=False)
    return steady(list(pd.read_csv(result.run_dir / "timing.csv")["seconds"])), result.run_dir


def run_fastai(case: Case, epochs: int) -> float | None:
    """(d) fastai's Learner on the same folder and network; None where fastai is missing."""
    if importlib.util.find_spec("fastai") is None:
        return None
    import time

    from fastai.vision.all import (  # type: ignore[import-not-found]
        CategoryBlock,
        CrossEntropyLossFlat,
        DataBlock,
        Flip,
        FuncSplitter,
        ImageBlock,
        Learner,
        Normalize,
        Resize,
        accuracy,
        parent_label,
    )

    model, pre = case.network()
    items = [Path(p) for p in pd.concat([case.train, case.val])["image"]]
    val_set = {str(p) for p in case.val["image"]}
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=lambda _: items,
        get_y=parent_label,
        splitter=FuncSplitter(lambda p: str(p) in val_set),
        item_tfms=Resize(case.size, method="squish"),
        batch_tfms=[Flip(p=0.5), Normalize.from_stats(pre.mean, pre.std)],
    )
    dls = block.dataloaders(case.data, bs=BATCH, num_workers=case.args.workers)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, 1e-3)
        seconds.append(time.perf_counter() - t0)
    return steady(seconds)


def _rate(case: Case, seconds: float | None) -> str:
    return "not installed" if seconds is None else f"{case.n / seconds:,.0f} img/s"


def main_table(cases: list[Case], args) -> str:
    rows = []
    for case in cases:
        a = run_floor(case, args.epochs)
        b = run_tutorial(case, args.epochs, args.workers)
        c = run_visionfit(case, args.epochs)
        d = run_fastai(case, args.epochs)
        rows.append(
            [case.label, f"{case.model}@{case.size}", _rate(case, a), _rate(case, b)]
            + [_rate(case, c), _rate(case, d), f"{c / a:.2f}", f"{b / c:.2f}"]
        )
    head = ["dataset", "network", "(a) floor", "(b) PIL loop", "(c) visionfit"]
    return table([*head, "(d) fastai", "c/a", "b/c"], rows)


def study_table(cases: list[Case], args) -> str:
    """Worker and thread policy: (b) and (c) with num_workers 0/1/2 and torch threads 1/2."""
    rows = []
    before = torch.get_num_threads()
    for case in cases:
        for threads in (1, 2):
            for workers in (0, 1, 2):
                torch.set_num_threads(threads)
                b = run_tutorial(case, args.epochs, workers)
                c = run_visionfit(case, args.epochs, workers)
                rows.append([case.label, threads, workers, _rate(case, b), _rate(case, c)])
    torch.set_num_threads(before)
    return table(["dataset", "torch threads", "num_workers", "(b) PIL loop", "(c) visionfit"], rows)


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f}" if path.is_file() else "-"


def overhead_table(cases: list[Case], args) -> str:
    """The per-epoch tax: (c) visionfit minus (a) the plain in-memory loop, in seconds per epoch
    (train + validation, median after the warm-up epoch), and the ratio c/a (target: <= 1.10).
    (a') is the same loop with AdamW's fused step, the one visionfit takes: c/a' is the tax of
    everything but the optimizer kernel. The checkpoint columns are the sizes of the files
    visionfit writes (last.ckpt every epoch, best.ckpt when the monitored score improved)."""
    rows = []
    for case in cases:
        a = run_floor(case, args.epochs)
        fused = run_floor(case, args.epochs, fused=True)
        c, run_dir = _visionfit_run(case, args.epochs)
        ckpts = run_dir / "checkpoints"
        print(
            f"# {case.label}: plain {a:.2f} s/epoch, fused {fused:.2f}, visionfit {c:.2f}",
            flush=True,
        )
        rows.append(
            [case.label, f"{case.model}@{case.size}", f"{a:.2f}", f"{fused:.2f}", f"{c:.2f}"]
            + [f"{c - a:+.2f}", f"{c / a:.2f}", f"{c / fused:.2f}"]
            + [_mb(ckpts / "last.ckpt"), _mb(ckpts / "best.ckpt")]
        )
    head = ["dataset", "network", "(a) plain s/epoch", "(a') plain, fused AdamW"]
    head += ["(c) visionfit s/epoch", "c-a s/epoch", "c/a", "c/a'"]
    return table([*head, "last.ckpt MB", "best.ckpt MB"], rows)


def build_overhead_cases(tmp: Path, args) -> list[Case]:
    """Issue 20's two cases: 4,000 + 1,000 small PNGs (resnet18 at 32 px) and 960 + 240
    640x480 JPEGs (resnet18 at 64 px); with --quick a few dozen of each."""
    n_png, n_jpg = (60, 30) if args.quick else (5000, 1200)
    png = make_shapes_dataset(tmp / "png-overhead", n_per_class=-(-n_png // 3), size=32)
    jpg = make_photo_dataset(tmp / "jpeg-overhead", n_jpg)
    cases = [
        Case("PNG 32 px", png, "resnet18", 32, args, tmp / "runs"),
        Case("JPEG 640x480", jpg, "resnet18", 64, args, tmp / "runs"),
    ]
    for case in cases:
        case.label += f" ({len(case.train):,} + {len(case.val):,})"
    return cases


def build_cases(tmp: Path, args) -> list[Case]:
    png = make_shapes_dataset(tmp / "png", n_per_class=max(args.n // 3, 4), size=32)
    jpg = make_photo_dataset(tmp / "jpeg", max(args.n, 12))
    return [
        Case(f"PNG 32 px ({args.n})", png, "simple_cnn", 32, args, tmp / "runs"),
        Case(f"JPEG 640x480 ({args.n})", jpg, "resnet18", args.jpeg_size, args, tmp / "runs"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--epochs", type=int, default=3, help="epochs per variant; the first is warm-up"
    )
    ap.add_argument("--n", type=int, default=600, help="images per dataset")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of (b)")
    ap.add_argument("--jpeg-size", type=int, default=64, help="resnet18 input size (64-128)")
    ap.add_argument("--study", action="store_true", help="also the workers x threads study")
    ap.add_argument("--skip-main", action="store_true", help="only the study / GPU tables")
    ap.add_argument(
        "--overhead",
        action="store_true",
        help="only the per-epoch tax table: issue 20's PNG and JPEG cases, plain loop vs visionfit",
    )
    ap.add_argument(
        "--quick", action="store_true", help="a smoke check in seconds: tiny datasets, 2 epochs"
    )
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.n = 2, 30
    if args.threads:
        torch.set_num_threads(args.threads)
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        needed = args.study or not (args.overhead or args.skip_main)
        cases = build_cases(Path(tmp), args) if needed else []
        out = [f"# {command_line()}"]
        out.append(
            f"# torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, "
            f"batch {BATCH}, {args.epochs} epochs (median after the first), train+val images/s"
        )
        if args.overhead:
            out.append(overhead_table(build_overhead_cases(Path(tmp), args), args))
        elif not args.skip_main:
            out.append(main_table(cases, args))
        if args.study:
            out += ["", "# worker and thread policy (torch threads set per row)"]
            out.append(study_table(cases, args))
        if args.device == "cuda":
            from _gpu import gpu_table

            out += ["", gpu_table(Path(tmp), args)]
        print("\n".join(out))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
