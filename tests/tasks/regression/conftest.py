"""A generated regression dataset: y is a disc's radius (learnable from pixels), 32 px."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from visionfit.config import RunConfig


def make_disc_dataset(root: Path, n: int = 80, seed: int = 0) -> Path:
    """`root/images/*.png` with one bright disc each and `root/t.csv` (image, y): y is the
    disc's radius in pixels (3..13), so a small CNN learns it in a few epochs."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        r = float(rng.uniform(3, 13))
        img = Image.fromarray(rng.integers(0, 40, (32, 32, 3), dtype=np.uint8))
        cx, cy = rng.uniform(14, 18, 2)
        ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=(230, 230, 230))
        name = f"img_{i:03d}.png"
        img.save(root / "images" / name)
        rows.append(f"images/{name},{r:.4f}")
    (root / "t.csv").write_text("image,y\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def disc_dir(tmp_path_factory) -> Path:
    return make_disc_dataset(tmp_path_factory.mktemp("discs") / "data")


def build_cfg(disc_dir: Path, runs_dir: Path, over: dict | None = None) -> RunConfig:
    """simple_cnn, 32 px, 3 epochs on the disc dataset; `over`: dotted-key overrides."""
    raw = {
        "runs_dir": str(runs_dir),
        "data": {"csv": str(disc_dir / "t.csv"), "task": "regress", "label_col": "y",
                 "workers": 0, "cache": "none"},
        "model": {"name": "simple_cnn"},
        "augment": {"preset": "none", "img_size": 32},
        "train": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "patience": None,
                  "checkpoint_minutes": None},
    }  # fmt: skip
    cfg = RunConfig.from_dict(raw)
    return cfg.with_overrides(over) if over else cfg


@pytest.fixture(scope="session")
def regress_cfg():
    """`regress_cfg(disc_dir, runs_dir, {"train.epochs": 2})`: see `build_cfg`."""
    return build_cfg
