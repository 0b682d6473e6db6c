"""The typed prediction objects render themselves: CSV rows, /predict JSON, console lines, mask
files and scores, from hand-made probabilities (no network, no training)."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from visionfit.errors import VisionfitError
from visionfit.tasks.base import PredictOutputs, ProbBatch
from visionfit.tasks.classification.outputs import ClassPredictions
from visionfit.tasks.segmentation.outputs import MaskHead, MaskPredictions


def _classifier(task="multiclass", classes=("cat", "dog", "owl"), threshold=0.5):
    return SimpleNamespace(meta={"task": task, "threshold": threshold}, classes=list(classes))


def test_class_predictions_frame_json_and_console(tmp_path):
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.0, 0.0, 0.0]])
    batch = ProbBatch(["a.png", "b.png", "c.png"], 0, probs, ["", "", "truncated"], [(4, 6)] * 3)
    preds = ClassPredictions.from_batch(_classifier(), batch)
    df = preds.to_frame()
    assert list(df.columns) == ["image", "pred", "prob_cat", "prob_dog", "prob_owl", "error"]
    assert list(df["pred"]) == ["cat", "owl", ""] and df["prob_owl"].isna().tolist()[2]
    assert preds.rows()[0]["prob_cat"] == pytest.approx(0.7)
    js = preds.to_json(1)
    assert js["view"] == "classes" and js["pred"] == "owl" and js["size"] == [6, 4]
    assert [t["class"] for t in js["top"]] == ["owl", "dog", "cat"]
    assert set(js["probs"]) == {"cat", "dog", "owl"}
    assert preds.n_failed == 1
    line = preds.console_lines(PredictOutputs(out=tmp_path / "p.csv"))[0]
    assert "wrote 3 predictions" in line and "{'cat': 1, 'owl': 1}" in line


def test_class_predictions_concat_keeps_names_in_input_order():
    one = ClassPredictions.from_batch(
        _classifier("binary", ("no", "yes"), 0.3),
        ProbBatch([np.zeros((2, 2, 3))], 0, np.array([[0.6, 0.4]]), [""]),
    )
    two = ClassPredictions.from_batch(
        _classifier("binary", ("no", "yes"), 0.3),
        ProbBatch([np.zeros((2, 2, 3))], 1, np.array([[0.8, 0.2]]), [""]),
    )
    df = ClassPredictions.concat([one, two]).to_frame()
    assert list(df["image"]) == ["<input 0>", "<input 1>"]
    assert list(df["pred"]) == ["yes", "no"]  # the run's threshold, not 0.5
    assert "error" not in df


def test_class_predictions_refuse_mask_options(tmp_path):
    with pytest.raises(VisionfitError, match="--masks-dir.*segmentation"):
        ClassPredictions.prepare(PredictOutputs(masks_dir=tmp_path / "m"), ["a.png"], "RUN")


def _segmenter(k=2):
    head = MaskHead(
        num_classes=k,
        threshold=0.5,
        min_area=0.0,
        rle=MaskHead.from_meta({"num_classes": k}).rle,
        spec=None,
    )
    names = ["background"] + [f"class_{c}" for c in range(1, k)]
    return SimpleNamespace(head=head, classes=names)


def _mask_batch(items, start=0):
    probs = torch.zeros(len(items), 2, 4, 4)
    probs[:, 0] = 1.0
    probs[0, 1, :2, :2], probs[0, 0, :2, :2] = 0.9, 0.1  # a 2x2 square in the first image
    return ProbBatch(items, start, probs, [""] * len(items), [(4, 4)] * len(items))


def _png(tmp_path, name):
    path = tmp_path / name
    Image.fromarray(np.full((4, 4, 3), 128, np.uint8)).save(path)
    return path


def test_mask_predictions_rle_json_files_and_scores(tmp_path):
    items = [_png(tmp_path, "a.png"), _png(tmp_path, "b.png")]
    out = tmp_path / "pred.csv"
    outputs = MaskPredictions.prepare(PredictOutputs(out=out), items, "RUN")
    assert outputs.masks_dir == tmp_path / "pred_masks"  # the CLI's default
    preds = MaskPredictions.from_batch(_segmenter(), _mask_batch(items))
    preds.write_files(outputs)
    mask_a = np.asarray(Image.open(outputs.masks_dir / "a.png"))
    assert mask_a[:2, :2].tolist() == [[255, 255], [255, 255]] and mask_a.sum() == 4 * 255
    df = preds.to_frame()
    assert list(df.columns) == ["ImageId", "EncodedPixels"]
    assert list(df["ImageId"]) == ["a", "b"] and df["EncodedPixels"].iloc[1] == ""
    js = preds.to_json(0)
    assert js["view"] == "mask" and js["size"] == [4, 4] and js["foreground_share"] == 0.25
    assert js["pixels_per_class"] == {"background": 12, "class_1": 4}
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(js["mask_png"]))))
    assert (png > 0).sum() == 4 and js["max_prob"] == pytest.approx(0.9)
    line = preds.console_lines(outputs)[0]
    assert "2 masks" in line and "2 RLE rows" in line and "(1 empty)" in line
    truth = tmp_path / "truth"
    truth.mkdir()
    Image.fromarray(mask_a).save(truth / "a.png")  # b has no true mask
    scores, per_image = preds.score(truth)
    assert scores["dice"] == pytest.approx(1.0) and scores["unmatched"] == 1
    assert list(per_image["image"]) == [str(items[0])]


def test_mask_predictions_light_keeps_rows_not_masks(tmp_path):
    items = [_png(tmp_path, "a.png")]
    part = MaskPredictions.from_batch(_segmenter(), _mask_batch(items)).light()
    assert part.masks is None and len(part.to_frame()) == 1
    with pytest.raises(VisionfitError, match="kept no masks"):
        part.to_json(0)


def test_mask_predictions_refuse_a_folder_with_files(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "old.png").write_bytes(b"x")
    with pytest.raises(VisionfitError, match="not empty"):
        MaskPredictions.prepare(PredictOutputs(masks_dir=tmp_path / "m"), ["a.png"], "RUN")
