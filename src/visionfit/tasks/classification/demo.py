"""Classification's demo: scikit-learn's handwritten digits as a PNG folder-per-class dataset,
simple_cnn trained on them, scored by accuracy on a held-out test folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionfit.tasks.base import Demo, DemoScore


def write_digits_dataset(
    root: Path, test_fraction: float = 0.2, seed: int = 0
) -> tuple[Path, Path]:
    """Write the 1,797 8x8 digits as PNGs: root/train/<digit>/ and a held-out root/test/<digit>/.

    Reuses a complete earlier copy (marked by a .complete file) instead of writing it again.
    """
    from PIL import Image
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


def _config(train_dir: Path, runs_dir: str, epochs: int) -> dict:
    return {
        "name": "demo-digits",
        "runs_dir": runs_dir,
        "data": {"path": str(train_dir), "in_chans": 1},
        "model": {"name": "simple_cnn"},
        # Digits are not mirror-symmetric, so no flips.
        "augment": {"preset": "none", "img_size": 16},
        "train": {"epochs": epochs, "batch_size": 32, "lr": 3e-3, "patience": None},
    }


def _score(predictor, test_dir: Path, run_dir: Path) -> DemoScore:
    paths = sorted(test_dir.rglob("*.png"))
    preds = predictor.predict(paths)
    truth = np.asarray([p.parent.name for p in paths])
    accuracy = float(np.mean(preds["pred"].astype(str).to_numpy() == truth))
    preds.to_csv(run_dir / "demo_test_predictions.csv", index=False)
    return DemoScore("accuracy", accuracy, len(paths))


DIGITS_DEMO = Demo(folder="digits", write=write_digits_dataset, config=_config, score=_score)
