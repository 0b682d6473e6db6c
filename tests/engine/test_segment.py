"""Segmentation end to end: an RLE CSV dataset -> run -> bundle -> masks + RLE predictions.

Everything the run reports is recomputed here from the files it wrote, with independent code:
the SIIM competition's own RLE decoder and a plain numpy dice.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import visionfit
from visionfit.config import RunConfig
from visionfit.data.rle import rle_encode
from visionfit.data.synthetic import make_segmentation_dataset
from visionfit.errors import DataError, ModelError
from visionfit.inference.predict import Predictor, expand_inputs
from visionfit.tasks.base import PredictOutputs


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny nets run faster on one thread, and much faster on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---- independent reference code ------------------------------------------------------------


def siim_rle2mask(rle: str, width: int, height: int) -> np.ndarray:
    """mask_functions.py of the SIIM-ACR competition; the image is rle2mask(...).T."""
    mask = np.zeros(width * height)
    array = np.asarray([int(x) for x in rle.split()])
    starts, lengths = array[0::2], array[1::2]
    pos = 0
    for index, start in enumerate(starts):
        pos += start
        mask[pos : pos + lengths[index]] = 255
        pos += lengths[index]
    return mask.reshape(width, height)


def decode_rows(rows: list[str], width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), bool)
    for r in rows:
        r = str(r).strip()
        if r and r != "-1" and r != "nan":
            out |= siim_rle2mask(r, width, height).T > 0
    return out


def mean_dice(preds: list[np.ndarray], truths: list[np.ndarray]) -> float:
    scores = []
    for p, t in zip(preds, truths, strict=True):
        p, t = p.astype(bool), t.astype(bool)
        denom = p.sum() + t.sum()
        scores.append(1.0 if denom == 0 else 2 * (p & t).sum() / denom)
    return float(np.mean(scores))


def write_siim_dataset(root: Path, n: int, seed: int, size: int = 32) -> tuple[Path, Path]:
    """Images under root/data/images, SIIM-style RLE CSV (one row per connected component,
    -1 for empty masks) at root/data/train-rle.csv; the true masks kept apart in root/truth."""
    import cv2

    src = make_segmentation_dataset(root / "gen", n, size=size, seed=seed, empty_prob=0.25)
    data = root / "data"
    shutil.copytree(src / "images", data / "images")
    truth = root / "truth"
    shutil.copytree(src / "masks", truth)
    rows = []
    for m in sorted(truth.glob("*.png")):
        mask = (np.asarray(Image.open(m)) > 0).astype(np.uint8)
        n_comp, labels = cv2.connectedComponents(mask, connectivity=4)
        if n_comp == 1:
            rows.append((m.stem, "-1"))
        for c in range(1, n_comp):
            rows.append((m.stem, " " + rle_encode(labels == c, fmt="siim")))
    csv_path = data / "train-rle.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ImageId", " EncodedPixels"])  # the SIIM file has this leading space
        w.writerows(rows)
    return csv_path, truth


# ---- one trained run, shared ----------------------------------------------------------------


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("siim")
    csv_path, truth = write_siim_dataset(root, 200, seed=0)
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(root / "runs"),
            "data": {"path": str(csv_path), "task": "segment", "workers": 0},
            "segment": {"arch": "unet", "width": 8, "rle_format": "siim"},
            "augment": {"preset": "light", "img_size": 32},
            "train": {"epochs": 8, "batch_size": 16, "lr": 3e-3, "patience": None},
        }
    )
    return visionfit.fit(cfg, progress=False), root, truth


def test_padded_unet_reaches_dice_09(seg_run):
    r, _, _ = seg_run
    assert r.task == "segment" and r.classes == ["background", "foreground"]
    assert r.monitor == "val_dice"
    assert r.val_final["dice"] >= 0.9, r.val_final
    assert r.best_metrics["val_dice"] >= 0.85, r.best_metrics
    for key in ("iou", "dice_global", "pixel_acc", "auroc_image", "empty_correct"):
        assert key in r.val_final, key
    assert 0.1 <= r.postprocess["threshold"] <= 0.95


def test_reported_dice_is_reproducible_from_saved_predictions(seg_run):
    r, root, truth = seg_run
    d = r.run_dir
    summary = json.loads((d / "summary.json").read_text())
    pred_csv = pd.read_csv(d / "val_predictions" / "predictions.csv", keep_default_na=False)
    assert list(pred_csv.columns) == ["ImageId", "EncodedPixels"]  # the data's own columns
    splits = pd.read_csv(d / "splits.csv")
    val_ids = sorted(splits.loc[splits["split"] == "val", "id"])
    assert sorted(pred_csv["ImageId"]) == val_ids and len(val_ids) == 40
    preds, truths = [], []
    for image_id, group in pred_csv.groupby("ImageId"):
        png = np.asarray(Image.open(d / "val_predictions" / "masks" / f"{image_id}.png"))
        assert set(np.unique(png)) <= {0, 255}
        from_rle = decode_rows(list(group["EncodedPixels"]), png.shape[1], png.shape[0])
        np.testing.assert_array_equal(from_rle, png > 0)  # RLE == PNG
        preds.append(png > 0)
        truths.append(np.asarray(Image.open(truth / f"{image_id}.png")) > 0)
        if not (png > 0).any():
            assert group["EncodedPixels"].tolist() == ["-1"]  # empty written as the data does
    dice = mean_dice(preds, truths)
    assert dice == pytest.approx(summary["val_final"]["dice"], abs=1e-12)
    inter = sum((p & t).sum() for p, t in zip(preds, truths, strict=True))
    total = sum(p.sum() + t.sum() for p, t in zip(preds, truths, strict=True))
    assert 2 * inter / total == pytest.approx(summary["val_final"]["dice_global"], abs=1e-12)
    per_image = pd.read_csv(d / "val_scores.csv")
    assert per_image["dice"].mean() == pytest.approx(dice, abs=1e-12)


def test_bundle_and_predict_held_out_images(seg_run, tmp_path):
    r, _, _ = seg_run
    meta = json.loads((r.run_dir / "model.json").read_text())
    assert meta["task"] == "segment" and meta["arch"] == "unet" and meta["encoder"] is None
    assert meta["rle"] == {
        "fmt": "siim",
        "order": "F",
        "id_col": "ImageId",
        "rle_col": "EncodedPixels",
        "empty": "-1",
        "id_with_ext": False,
        "class_col": "",  # binary: no class column
    }
    assert meta["threshold"] == r.postprocess["threshold"]
    predictor = visionfit.load(r.run_dir)
    assert isinstance(predictor, Predictor)

    test = make_segmentation_dataset(tmp_path / "test", 60, size=32, seed=7, empty_prob=0.25)
    paths = expand_inputs([test / "images"])
    table = predictor.predict(paths, masks_dir=tmp_path / "m", overlays_dir=tmp_path / "o")
    preds, truths = [], []
    for p, row in zip(paths, table.itertuples(index=False), strict=True):
        assert row.ImageId == p.stem
        png = np.asarray(Image.open(tmp_path / "m" / f"{p.stem}.png"))
        np.testing.assert_array_equal(decode_rows([row.EncodedPixels], 32, 32), png > 0)
        preds.append(png > 0)
        truths.append(np.asarray(Image.open(test / "masks" / f"{p.stem}.png")) > 0)
        assert Image.open(tmp_path / "o" / f"{p.stem}.png").size == (32, 32)
    assert mean_dice(preds, truths) >= 0.9

    # TTA (flips undone) keeps masks aligned: still a good dice
    flipped = predictor.predictions(paths, tta="hvflip")
    assert mean_dice([m > 0 for m in flipped.masks], truths) >= 0.88
    # never into a folder that has files
    with pytest.raises(DataError, match="is not empty"):
        predictor.predict(paths[:1], masks_dir=tmp_path / "m")


def test_masks_at_original_size_and_unreadable_inputs(seg_run, tmp_path):
    r, _, _ = seg_run
    img = Image.open(next((seg_run[1] / "data" / "images").glob("*.png"))).resize((50, 41))
    img.save(tmp_path / "odd.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    table = visionfit.load(r.run_dir).predict(
        [tmp_path / "odd.png", tmp_path / "bad.png"], masks_dir=tmp_path / "m"
    )
    assert Image.open(tmp_path / "m" / "odd.png").size == (50, 41)
    assert not (tmp_path / "m" / "bad.png").exists()
    assert table["error"].tolist() == ["", "not an image"]
    assert table["EncodedPixels"].iloc[1] == "-1"


# ---- the command line, an smp net, other formats ---------------------------------------------


def test_cli_train_predict_check_with_smp_and_kaggle_row_major(tmp_path, run_cli):
    csv_path = make_segmentation_dataset(
        tmp_path / "d",
        40,
        size=32,
        seed=3,
        layout="rle",
        rle_format="kaggle",
        rle_order="C",
        empty_prob=0.3,
    )
    common = ["--rle-format", "kaggle", "--rle-order", "C"]
    code, out, err = run_cli(["check", csv_path, *common])
    assert code == 0, err
    assert "empty masks" in out and "rle-csv" in out
    runs = tmp_path / "runs"
    args = [
        "train",
        csv_path,
        "--task",
        "segment",
        *common,
        "--arch",
        "fpn",
        "--encoder",
        "tu-resnet10t",
        "--epochs",
        "1",
        "--img-size",
        "32",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--runs-dir",
        runs,
    ]
    code, out, err = run_cli(args)
    assert code == 0, err
    assert "val_dice" in out and "original size" in out
    (run_dir,) = list(runs.iterdir())
    assert run_dir.name.startswith("fpn-tu-resnet10t-")
    out_csv = tmp_path / "pred.csv"
    code, out, err = run_cli(
        [
            "predict",
            run_dir,
            tmp_path / "d" / "images",
            "--out",
            out_csv,
            "--tta",
            "--truth",
            csv_path,
        ]
    )
    assert code == 0, err
    table = pd.read_csv(out_csv, keep_default_na=False)
    masks_dir = tmp_path / "pred_masks"
    assert len(table) == 40 and len(list(masks_dir.glob("*.png"))) == 40

    def kaggle_c(rle: str, shape) -> np.ndarray:  # kaggle, row-major, decoded by hand
        flat = np.zeros(shape[0] * shape[1], bool)
        nums = [int(v) for v in rle.split()]
        for s, n in zip(nums[0::2], nums[1::2], strict=True):
            flat[s - 1 : s - 1 + n] = True
        return flat.reshape(shape)

    truth = pd.read_csv(csv_path, keep_default_na=False).set_index("ImageId")["EncodedPixels"]
    preds, truths = [], []
    for row in table.itertuples(index=False):
        png = np.asarray(Image.open(masks_dir / f"{row.ImageId}.png")) > 0
        np.testing.assert_array_equal(kaggle_c(row.EncodedPixels, png.shape), png)
        preds.append(png)
        truths.append(kaggle_c(truth[row.ImageId], png.shape))
    # --truth: the printed dice is the plain mean per-image dice of the written masks
    scores = pd.read_csv(tmp_path / "pred_scores.csv")
    assert len(scores) == 40
    assert scores["dice"].mean() == pytest.approx(mean_dice(preds, truths), abs=1e-12)
    assert f"{mean_dice(preds, truths):.4f}" in out
    # errors are one line with exit code 2
    code, out, err = run_cli(args[:-2] + ["--runs-dir", runs, "--img-size", "48"])
    assert code == 2 and "multiple of 32" in err


def test_multiclass_masks_and_class_index_predictions(tmp_path):
    data = make_segmentation_dataset(tmp_path / "d", 80, size=32, seed=4, n_classes=3)
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path / "runs"),
            "data": {"path": str(data), "task": "segment", "workers": 0},
            "segment": {"arch": "unet", "width": 8, "num_classes": 3},
            "augment": {"preset": "light", "img_size": 32},
            "train": {"epochs": 8, "batch_size": 16, "lr": 5e-3, "patience": None},
        }
    )
    r = visionfit.fit(cfg, progress=False)
    assert r.classes == ["background", "class_1", "class_2"]
    for key in ("dice", "dice_class_1", "dice_class_2", "iou_class_2", "pixel_acc"):
        assert key in r.val_final, key
    # 80% of the pixels are background; both classes are found
    assert r.val_final["pixel_acc"] > 0.9 and r.val_final["dice"] > 0.6, r.val_final
    assert min(r.val_final["dice_class_1"], r.val_final["dice_class_2"]) > 0.5, r.val_final
    predictor = visionfit.load(r.run_dir)
    images = sorted((data / "images").glob("*.png"))[:5]
    preds = predictor.predictions(images, PredictOutputs(masks_dir=tmp_path / "m"))
    table = preds.to_frame()
    assert list(table.columns) == ["ImageId", "ClassId", "EncodedPixels"] and len(table) == 10
    values = set()
    for p in (tmp_path / "m").glob("*.png"):
        values |= set(np.unique(np.asarray(Image.open(p))).tolist())
    assert values <= {0, 1, 2} and len(values) > 1
    # scoring against a masks folder: per class, mean over images, empty/empty = 1
    scores, per_image = preds.score(data / "masks")
    assert scores["scored"] == 5 and scores["unmatched"] == 0
    for c in (1, 2):
        preds = [np.asarray(Image.open(tmp_path / "m" / p.name)) == c for p in images]
        truths = [np.asarray(Image.open(data / "masks" / p.name)) == c for p in images]
        assert scores[f"dice_class_{c}"] == pytest.approx(mean_dice(preds, truths), abs=1e-12)


def test_unet_original_trains_on_cropped_targets(tmp_path):
    data = make_segmentation_dataset(tmp_path / "d", 12, size=32, seed=5)
    base = {
        "runs_dir": str(tmp_path / "runs"),
        "data": {"path": str(data), "task": "segment", "workers": 0},
        "segment": {"arch": "unet_original", "width": 4, "tune_postprocess": False},
        "augment": {"preset": "none", "img_size": 188},
        "train": {"epochs": 1, "batch_size": 6, "patience": None},
    }
    r = visionfit.fit(RunConfig.from_dict(base), progress=False)
    assert "val_dice" in r.best_metrics
    table = visionfit.load(r.run_dir).predict(
        [data / "images" / "img_0000.png"], masks_dir=tmp_path / "m"
    )
    assert Image.open(tmp_path / "m" / "img_0000.png").size == (32, 32)  # overlap-tile
    assert len(table) == 1
    base["augment"]["img_size"] = 190
    with pytest.raises(ModelError, match="does not fit unet_original.*188"):
        visionfit.fit(RunConfig.from_dict(base), progress=False)
    base["model"] = {"name": "resnet18"}
    with pytest.raises(ModelError, match="choose the network with --arch, --encoder"):
        visionfit.fit(RunConfig.from_dict(base), progress=False)
    assert len(list((tmp_path / "runs").iterdir())) == 1  # failed runs leave no directory
