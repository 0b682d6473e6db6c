"""The baseline's inputs: features, and bad images stopping it before a run directory exists."""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.config import BaselineConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.engine.baseline import image_features, run_baseline


def test_features_pixels_and_hog(shapes_dir):
    path = str(next((shapes_dir / "circle").glob("*.png")))
    px = image_features(path, 16, "pixels", 3)
    assert px.shape == (16 * 16 * 3,) and 0 <= px.min() and px.max() <= 1
    gray = image_features(path, 16, "pixels", 1)
    assert gray.shape == (16 * 16,)
    hog = image_features(path, 32, "hog", 3)
    assert hog.ndim == 1 and hog.size > 0 and np.isfinite(hog).all()


def test_unreadable_image_is_skipped_and_listed_like_in_training(tmp_path):
    data = make_shapes_dataset(tmp_path / "d", n_per_class=6, classes=("circle", "square"))
    (data / "circle" / "broken.png").write_bytes(b"not an image")
    runs = tmp_path / "runs"
    cfg = BaselineConfig.from_dict(
        {"data": {"path": str(data)}, "cv": {"folds": 3}, "n_jobs": 1, "runs_dir": str(runs)}
    )
    result = run_baseline(cfg, progress=False)
    skipped = pd.read_csv(result.run_dir / "skipped.csv")
    assert list(skipped["reason"]) == ["not an image"]
    assert skipped["image"].iloc[0].endswith("broken.png")
    oof = pd.read_csv(result.run_dir / "oof.csv")
    assert len(oof) == 12 and not oof["image"].str.endswith("broken.png").any()
