"""Segmentation gets what classification has: group folds (--cv group with --group-col), a
refit on all data after cross-validation, and a grouped single-run hold-out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_segmentation_dataset
from visionfit.errors import DataError


@pytest.fixture(scope="module")
def grouped_csv(tmp_path_factory) -> Path:
    """An RLE CSV of 24 images in 8 groups of 3 (say, patients)."""
    root = tmp_path_factory.mktemp("seggroups")
    csv = make_segmentation_dataset(root, 24, size=32, seed=2, empty_prob=0.2, layout="rle")
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df["patient"] = [f"p{int(i[-4:]) // 3}" for i in df["ImageId"]]
    df.to_csv(csv, index=False)
    return csv


def _cfg(csv: Path, runs: Path, **extra) -> RunConfig:
    raw = {
        "runs_dir": str(runs),
        "data": {"path": str(csv), "task": "segment", "workers": 0, "group_col": "patient"},
        "segment": {"arch": "unet", "width": 4},
        "augment": {"img_size": 32},
        "train": {"epochs": 2, "batch_size": 8, "patience": None},
    }
    for key, value in extra.items():
        raw[key] = {**raw.get(key, {}), **value}
    return RunConfig.from_dict(raw)


def _groups_of(table: pd.DataFrame, column: str) -> dict[str, set]:
    return table.groupby("group")[column].agg(set).to_dict()


def test_group_folds_and_refit_for_segmentation(grouped_csv, tmp_path):
    result = visionfit.cross_validate(
        _cfg(grouped_csv, tmp_path / "runs", cv={"folds": 2, "kind": "group", "refit": True})
    )
    assert result.fold_kind == "group"
    folds = pd.read_csv(result.run_dir / "folds.csv")
    assert all(len(f) == 1 for f in _groups_of(folds, "fold").values())  # no group in 2 folds
    # the refit trains on every image for the mean best epoch count, with the ensemble's
    # post-processing, and predicts like any single run
    refit = result.refit_dir
    assert refit is not None and (refit / "model.safetensors").is_file()
    meta = json.loads((refit / "model.json").read_text())
    ens = json.loads((result.run_dir / "model.json").read_text())
    assert meta["threshold"] == ens["threshold"] and meta["min_area"] == ens["min_area"]
    epochs = len(pd.read_csv(refit / "metrics.csv"))
    assert epochs == max(1, round(np.mean(result.best_epochs) + 1))
    images = sorted((grouped_csv.parent / "images").iterdir())[:3]
    preds = visionfit.load(refit).predictions(images)
    masks, errors = preds.masks, preds.errors
    assert errors == ["", "", ""] and masks[0].shape == (32, 32)


def test_grouped_holdout_never_splits_a_group(grouped_csv, tmp_path):
    result = visionfit.fit(_cfg(grouped_csv, tmp_path / "runs"), progress=False)
    splits = pd.read_csv(result.run_dir / "splits.csv")
    assert all(len(s) == 1 for s in _groups_of(splits, "split").values())
    assert set(splits["split"]) == {"train", "val"}


def test_group_col_needs_a_column_and_mask_folders_have_none(grouped_csv, tmp_path):
    with pytest.raises(DataError, match="column 'site' not in"):
        visionfit.fit(_cfg(grouped_csv, tmp_path, data={"group_col": "site"}), progress=False)
    folders = make_segmentation_dataset(tmp_path / "folders", 6, size=32, seed=1)
    with pytest.raises(DataError, match="--group-col reads a column of an RLE CSV"):
        visionfit.fit(_cfg(folders, tmp_path, data={"path": str(folders)}), progress=False)
