"""The built-in demo: scikit-learn's handwritten digits as a PNG folder-per-class dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from visionfit.config import RunConfig
from visionfit.engine.fit import RunResult, fit
from visionfit.inference.backends import load
from visionfit.inference.predict import expand_inputs


def cache_dir() -> Path:
    """$VISIONFIT_CACHE, else ~/.cache/visionfit."""
    env = os.environ.get("VISIONFIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "visionfit"


def write_digits_dataset(
    root: Path, test_fraction: float = 0.2, seed: int = 0
) -> tuple[Path, Path]:
    """Write the 1,797 8x8 digits as PNGs: root/train/<digit>/ and a held-out root/test/<digit>/.

    Reuses a complete earlier copy (marked by a .complete file) instead of writing it again.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    train_dir, test_dir = root / "train", root / "test"
    if (root / ".complete").is_file():
        return train_dir, test_dir
    digits = load_digits()
    images = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    idx = np.arange(len(images))
    train_idx, test_idx = train_test_split(
        idx, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    for folder, subset in ((train_dir, train_idx), (test_dir, test_idx)):
        for i in subset:
            out = folder / str(digits.target[i]) / f"digit_{i:04d}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i], mode="L").save(out)
    (root / ".complete").write_text("ok\n")
    return train_dir, test_dir


@dataclass
class DemoResult:
    run: RunResult
    test_accuracy: float
    n_test: int
    data_dir: Path


def run_demo(runs_dir: str = "runs", *, epochs: int = 15, progress: bool = True) -> DemoResult:
    """Train simple_cnn on the digits, then predict the held-out test images and score them."""
    train_dir, test_dir = write_digits_dataset(cache_dir() / "digits")
    cfg = RunConfig.from_dict(
        {
            "name": "demo-digits",
            "runs_dir": runs_dir,
            "data": {"path": str(train_dir), "in_chans": 1},
            "model": {"name": "simple_cnn"},
            # Digits are not mirror-symmetric, so no flips.
            "augment": {"preset": "none", "img_size": 16},
            "train": {"epochs": epochs, "batch_size": 32, "lr": 3e-3, "patience": None},
        }
    )
    result = fit(cfg, progress=progress)
    paths = expand_inputs([test_dir])
    preds = load(result.run_dir).predict(paths)
    truth = [p.parent.name for p in paths]
    accuracy = float(np.mean(preds["pred"].astype(str).to_numpy() == np.asarray(truth)))
    preds.to_csv(result.run_dir / "demo_test_predictions.csv", index=False)
    return DemoResult(
        run=result, test_accuracy=accuracy, n_test=len(paths), data_dir=train_dir.parent
    )
