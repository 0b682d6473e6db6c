"""Segmentation's demo: a U-Net on generated shapes with textured, noisy backgrounds.

The training set is an RLE CSV (the Kaggle layout, a fifth of the masks empty); a separate
held-out set with mask PNGs is predicted through the run's bundle and scored by mean per-image
dice (tasks/segmentation/metrics.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionfit.tasks.base import Demo, DemoScore


def write_seg_demo_data(root: Path, size: int = 48) -> tuple[Path, Path]:
    """(train CSV, held-out folder); reuses a complete earlier copy."""
    from visionfit.data.synthetic import make_segmentation_dataset

    train_csv, test_dir = root / "train" / "train.csv", root / "test"
    if (root / ".complete").is_file():
        return train_csv, test_dir
    make_segmentation_dataset(root / "train", 400, size=size, seed=0, empty_prob=0.2, layout="rle")
    make_segmentation_dataset(root / "test", 100, size=size, seed=1, empty_prob=0.2)
    (root / ".complete").write_text("ok\n")
    return train_csv, test_dir


def _config(train_csv: Path, runs_dir: str, epochs: int) -> dict:
    return {
        "name": "demo-segment",
        "runs_dir": runs_dir,
        "data": {"path": str(train_csv), "task": "segment"},
        "segment": {"arch": "unet", "width": 12},
        "augment": {"preset": "light", "img_size": 48},
        "train": {"epochs": epochs, "batch_size": 16, "lr": 3e-3, "patience": None},
    }


def _score(predictor, test_dir: Path, run_dir: Path) -> DemoScore:
    import torch
    from PIL import Image

    from visionfit.tasks.segmentation.metrics import image_stats, per_image_dice

    paths = sorted((test_dir / "images").glob("*.png"))
    masks_dir = run_dir / "demo_test_masks"
    from visionfit.tasks.base import PredictOutputs

    preds = predictor.predictions(paths, PredictOutputs(masks_dir=masks_dir))
    dices = []
    for path, pred in zip(paths, preds.masks, strict=True):
        truth = np.asarray(Image.open(test_dir / "masks" / f"{path.stem}.png")) > 0
        s = image_stats(
            torch.from_numpy(pred)[None], torch.from_numpy(truth.astype(np.uint8))[None], 2
        )
        dices.append(float(per_image_dice(s).mean()))
    return DemoScore("dice", float(np.mean(dices)), len(paths), f"predicted masks in {masks_dir}")


SHAPES_DEMO = Demo(folder="seg-shapes", write=write_seg_demo_data, config=_config, score=_score)
