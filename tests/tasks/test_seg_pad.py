"""Segmentation with `--resize pad`: the padded border is background in training masks, and a
predicted mask is cut back to the image before it is resized to the image's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import visionfit
from visionfit.config import RunConfig
from visionfit.data.preprocess import Preprocess
from visionfit.data.synthetic import make_segmentation_dataset
from visionfit.data.transforms import transforms_for
from visionfit.errors import ModelError
from visionfit.tasks.segmentation.outputs import MaskHead
from visionfit.tasks.segmentation.sources import RleInfo


def _head(padded: bool) -> MaskHead:
    return MaskHead(3, 0.5, 0.0, RleInfo.from_json(None), None, padded=padded)


@pytest.mark.parametrize(("h", "w"), [(40, 100), (90, 30), (50, 50)])
def test_a_padded_mask_comes_back_at_the_image_size(h, w):
    mask = np.zeros((h, w), np.uint8)
    mask[:, : w // 2] = 1
    mask[h // 2 :, w // 2 :] = 2
    pre = Preprocess(32, resize="pad", interpolation="bilinear")
    padded = transforms_for("none", pre, train=False)(image=np.zeros((h, w, 3), np.uint8),
                                                      mask=mask)["mask"]  # fmt: skip
    probs = torch.nn.functional.one_hot(padded.long(), 3).permute(2, 0, 1).float()
    back, _ = _head(True).to_mask(probs, h, w)
    assert back.shape == (h, w)
    assert (back == mask).mean() > 0.95
    if h != w:  # without cutting the border off, the mask is squeezed: far more pixels wrong
        squeezed, _ = _head(False).to_mask(probs, h, w)
        assert (squeezed == mask).mean() < (back == mask).mean() - 0.1


def _wide_seg_data(root: Path) -> Path:
    src = make_segmentation_dataset(root / "src", 10, size=32, seed=4)
    for sub in ("images", "masks"):
        (root / "data" / sub).mkdir(parents=True)
        for p in sorted((src / sub).glob("*.png")):
            resample = Image.NEAREST if sub == "masks" else Image.BILINEAR
            Image.open(p).resize((64, 32), resample).save(root / "data" / sub / p.name)
    return root / "data"


def test_pad_trains_and_predicts_masks_at_each_images_size(tmp_path):
    data = _wide_seg_data(tmp_path)
    cfg = {
        "runs_dir": str(tmp_path / "runs"),
        "data": {"path": str(data), "task": "segment", "workers": 0},
        "augment": {"preset": "none", "img_size": 32, "resize": "pad"},
        "segment": {"arch": "unet", "width": 4, "tune_postprocess": False},
        "train": {"epochs": 1, "batch_size": 4, "patience": None},
    }
    torch.set_num_threads(1)
    run = visionfit.fit(RunConfig.from_dict(cfg), progress=False).run_dir
    p = visionfit.load(run)
    assert p.meta["resize"] == "pad"
    preds = p.predictions([str(next((data / "images").glob("*.png")))])
    assert preds.masks[0].shape == (32, 64)
    with pytest.raises(ModelError, match="--resize crop"):
        cfg["augment"]["resize"] = "crop"
        visionfit.fit(RunConfig.from_dict(cfg), progress=False)
