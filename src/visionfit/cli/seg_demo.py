"""`visionfit demo --task segment`: a U-Net on generated shapes with textured, noisy backgrounds.

The training set is an RLE CSV (the Kaggle layout, a fifth of the masks empty); a separate
held-out set with mask PNGs is predicted through the run's bundle and scored by mean per-image
dice (tasks/seg_metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from visionfit.cli.demo import cache_dir
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_segmentation_dataset
from visionfit.engine.fit import RunResult, fit
from visionfit.inference.backends import load
from visionfit.inference.predict import expand_inputs
from visionfit.tasks.base import PredictOutputs
from visionfit.tasks.segmentation.metrics import image_stats, per_image_dice


@dataclass
class SegDemoResult:
    run: RunResult
    test_dice: float
    n_test: int
    data_dir: Path
    masks_dir: Path


def write_seg_demo_data(root: Path, size: int = 48) -> tuple[Path, Path]:
    """(train CSV, held-out folder); reuses a complete earlier copy."""
    train_csv, test_dir = root / "train" / "train.csv", root / "test"
    if (root / ".complete").is_file():
        return train_csv, test_dir
    make_segmentation_dataset(root / "train", 400, size=size, seed=0, empty_prob=0.2, layout="rle")
    make_segmentation_dataset(root / "test", 100, size=size, seed=1, empty_prob=0.2)
    (root / ".complete").write_text("ok\n")
    return train_csv, test_dir


def run_seg_demo(
    runs_dir: str = "runs", *, epochs: int = 15, progress: bool = True
) -> SegDemoResult:
    train_csv, test_dir = write_seg_demo_data(cache_dir() / "seg-shapes")
    cfg = RunConfig.from_dict(
        {
            "name": "demo-segment",
            "runs_dir": runs_dir,
            "data": {"path": str(train_csv), "task": "segment"},
            "segment": {"arch": "unet", "width": 12},
            "augment": {"preset": "light", "img_size": 48},
            "train": {"epochs": epochs, "batch_size": 16, "lr": 3e-3, "patience": None},
        }
    )
    result = fit(cfg, progress=progress)
    predictor = load(result.run_dir)
    paths = expand_inputs([test_dir / "images"])
    masks_dir = result.run_dir / "demo_test_masks"
    preds = predictor.predictions(paths, PredictOutputs(masks_dir=masks_dir))
    from PIL import Image

    dices = []
    for path, pred in zip(paths, preds.masks, strict=True):
        truth = (np.asarray(Image.open(test_dir / "masks" / f"{path.stem}.png")) > 0).astype(
            np.uint8
        )
        s = image_stats(torch.from_numpy(pred)[None], torch.from_numpy(truth)[None], 2)
        dices.append(float(per_image_dice(s).mean()))
    return SegDemoResult(
        run=result,
        test_dice=float(np.mean(dices)),
        n_test=len(paths),
        data_dir=train_csv.parent.parent,
        masks_dir=masks_dir,
    )
