"""Segmentation cross-validation (`--task segment --folds K`) and its fold ensemble."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_segmentation_dataset
from visionfit.engine.cv import assign_folds
from visionfit.inference.predict import Predictor, _tta_flips
from visionfit.tasks.base import TaskData


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def kaggle_f(rle: str, shape) -> np.ndarray:
    """Kaggle RLE (1-based start/length pairs), column-major, decoded by hand."""
    flat = np.zeros(shape[0] * shape[1], bool)
    nums = [int(v) for v in str(rle).split()]
    for s, n in zip(nums[0::2], nums[1::2], strict=True):
        flat[s - 1 : s - 1 + n] = True
    return flat.reshape(shape[::-1]).T


def test_segment_cv_folds_summary_and_fold_ensemble(tmp_path, run_cli):
    csv_path = make_segmentation_dataset(
        tmp_path / "d", 36, size=32, seed=5, layout="rle", empty_prob=0.3
    )
    images = sorted((tmp_path / "d" / "images").glob("*.png"))
    runs = tmp_path / "runs"
    train = [
        "train",
        csv_path,
        "--task",
        "segment",
        "--folds",
        "2",
        "--arch",
        "unet",
        "--width",
        "4",
        "--epochs",
        "2",
        "--img-size",
        "32",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--runs-dir",
        runs,
    ]
    code, out, err = run_cli(train)
    assert code == 0, err
    flat = " ".join(out.split())  # Rich wraps long lines
    assert "mean ± std over 2 folds" in flat and "out-of-fold mean per-image dice" in flat
    (run_dir,) = list(runs.iterdir())
    assert run_dir.name.startswith("unet-cv-")

    # folds.csv: every image exactly once, stratified on empty / non-empty masks
    folds = pd.read_csv(run_dir / "folds.csv")
    assert sorted(map(str, images)) == sorted(folds["image"])
    assert set(folds["fold"]) == {0, 1}
    assert set(folds["label"]) == {"empty", "non_empty"}
    per_fold_empty = folds.groupby("fold")["label"].apply(lambda s: (s == "empty").sum())
    assert abs(per_fold_empty[0] - per_fold_empty[1]) <= 1
    for k in (0, 1):
        for name in ("model.safetensors", "model.json", "metrics.csv", "val_scores.csv"):
            assert (run_dir / f"fold_{k}" / name).is_file(), (k, name)

    # cv_summary: per fold, mean, std, oof; mean/std recomputable from the fold rows
    summary_csv = pd.read_csv(run_dir / "cv_summary.csv")
    assert list(summary_csv["fold"].astype(str)) == ["0", "1", "mean", "std", "oof"]
    fold_dice = summary_csv.loc[:1, "dice"].to_numpy(float)
    assert summary_csv.loc[2, "dice"] == pytest.approx(fold_dice.mean())
    assert summary_csv.loc[3, "dice"] == pytest.approx(fold_dice.std())
    oof = pd.read_csv(run_dir / "oof_scores.csv")
    assert sorted(oof["image"]) == sorted(map(str, images))
    assert summary_csv.loc[4, "dice"] == pytest.approx(oof["dice"].mean())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["kind"] == "cv" and summary["task"] == "segment" and summary["folds"] == 2
    assert summary["fold_kind"] == "stratified"
    meta = json.loads((run_dir / "model.json").read_text())
    assert meta["kind"] == "cv" and meta["members"] == ["fold_0", "fold_1"]
    assert "pooled out-of-fold" in meta["postprocess"]["method"]

    # killed after its folds, before its summary: --resume keeps both folds (their record and
    # bundle: the pooled out-of-fold probabilities from the bundles) and writes the same outputs
    killed = tmp_path / "killed"
    shutil.copytree(run_dir, killed)
    for name in ("summary.json", "cv_summary.csv", "oof_scores.csv", "model.json"):
        (killed / name).unlink()
    code, out, err = run_cli(["train", "--resume", killed])
    assert code == 0, err
    assert "fold 2/2: finished, kept" in " ".join(err.split())
    for name in ("cv_summary.csv", "oof_scores.csv", "model.json"):
        assert (killed / name).read_text() == (run_dir / name).read_text(), name

    # the same folds come back from --folds-file
    cfg = RunConfig.from_dict(
        {
            "data": {"path": str(csv_path), "task": "segment"},
            "cv": {"folds_file": str(run_dir / "folds.csv")},
        }
    )
    table = folds.assign(target=(folds["label"] != "empty").astype(int))
    reused, kind = assign_folds(TaskData(table, [], "", "segment", pd.DataFrame()), cfg)
    assert kind == "file" and (reused["fold"].to_numpy() == folds["fold"].to_numpy()).all()

    # predict with the CV run: masks + RLE CSV that decodes back to the mask PNGs
    out_csv = tmp_path / "pred.csv"
    masks_dir = tmp_path / "masks"
    code, out, err = run_cli(
        ["predict", run_dir, *images, "--out", out_csv, "--masks-dir", masks_dir, "--tta"]
    )
    assert code == 0, err
    table = pd.read_csv(out_csv, keep_default_na=False)
    assert list(table.columns) == ["ImageId", "EncodedPixels"] and len(table) == len(images)
    for row in table.itertuples(index=False):
        png = np.asarray(Image.open(masks_dir / f"{row.ImageId}.png")) > 0
        np.testing.assert_array_equal(kaggle_f(row.EncodedPixels, png.shape), png)

    # the ensemble's probabilities are the mean of the fold models' (with and without TTA)
    ens = visionfit.load(run_dir)
    assert isinstance(ens, Predictor) and len(ens.models) == 2
    assert ens.head.threshold == meta["threshold"] and ens.head.min_area == meta["min_area"]
    arr = np.asarray(Image.open(images[0]).convert("RGB"))
    x = ens.transform(image=arr)["image"][None]
    members = [visionfit.load(run_dir / f"fold_{k}") for k in (0, 1)]
    for tta in ("none", "hflip"):
        flips = _tta_flips(tta)
        expected = (members[0]._probs(x, flips) + members[1]._probs(x, flips)) / 2
        torch.testing.assert_close(ens._probs(x, flips), expected, rtol=1e-5, atol=1e-6)
    none = _tta_flips("none")
    assert not torch.allclose(members[0]._probs(x, none), members[1]._probs(x, none))
