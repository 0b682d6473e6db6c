"""The resolved preprocessing (data/preprocess.py) and the resize ops (data/transforms.py):
timm's own eval transform on non-square images, squash/pad/crop shapes, masks, the cache."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from timm.data import create_transform, resolve_data_config

from visionfit.config.sections import AugmentConfig
from visionfit.config.stored import check_model_meta
from visionfit.data.cache import DecodedCache
from visionfit.data.preprocess import Preprocess, resolve_preprocess
from visionfit.data.transforms import FitSquare, eval_transforms, transforms_for
from visionfit.errors import RunError, VisionfitError
from visionfit.models.factory import create_classifier

TIMM_NET = "test_efficientnet"  # pretrained_cfg offline: bicubic, crop_pct 0.95, ImageNet stats


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A local state dict of the timm net: `--weights` makes it a 'pretrained' network."""
    net = timm.create_model(TIMM_NET, pretrained=False)
    path = tmp_path_factory.mktemp("w") / "net.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def _resolved(created, **aug) -> Preprocess:
    return resolve_preprocess(AugmentConfig(**aug), created.preprocessing, 3)


@pytest.mark.parametrize("shape", [(97, 213), (240, 131), (160, 160)])
def test_crop_eval_is_timms_own_eval_transform(weights, shape):
    created = create_classifier(TIMM_NET, 4, weights=weights)
    pre = _resolved(created, img_size=160)  # auto: the pretrained net's own eval style
    assert (pre.resize, pre.interpolation, pre.crop_pct) == ("crop", "bicubic", 0.95)
    timm_tf = create_transform(**resolve_data_config({}, model=created.model))
    img = _image(*shape)
    want = timm_tf(Image.fromarray(img))
    got = transforms_for("none", pre, train=False)(image=img)["image"]
    assert got.shape == want.shape == (3, 160, 160)
    assert torch.allclose(got, want, atol=1e-5)
    # the bundle's keys give the same pipeline back
    again = eval_transforms({**pre.meta(), "in_chans": 3})(image=img)["image"]
    assert torch.equal(again, got)


def test_auto_keeps_squash_and_area_for_from_scratch_nets():
    for created in (create_classifier("simple_cnn", 3), create_classifier(TIMM_NET, 3)):
        pre = _resolved(created, img_size=32)
        assert (pre.resize, pre.interpolation) == ("squash", "area")
        assert pre.mean == tuple(created.preprocessing.mean)


def test_options_override_the_models_own(weights):
    created = create_classifier(TIMM_NET, 2, weights=weights)
    pre = _resolved(
        created, img_size=64, resize="pad", interpolation="lanczos", crop_pct=0.8, mean="none"
    )
    assert (pre.resize, pre.interpolation, pre.crop_pct) == ("pad", "lanczos", 0.8)
    assert pre.mean == (0.0,) * 3 and pre.std == created.preprocessing.std
    pre = _resolved(create_classifier("simple_cnn", 2), img_size=32, mean="imagenet", std="0.5")
    assert pre.mean == (0.485, 0.456, 0.406) and pre.std == (0.5,) * 3
    gray = resolve_preprocess(AugmentConfig(mean="imagenet"), created.preprocessing, 1)
    assert gray.mean == pytest.approx((sum((0.485, 0.456, 0.406)) / 3,))
    with pytest.raises(VisionfitError, match="2 numbers for 3 input channel"):
        _resolved(created, mean="0.1,0.2")


def test_option_values_are_checked():
    assert AugmentConfig(crop_scale="0.25, 1").crop_scale == (0.25, 1.0)
    assert AugmentConfig(mean="0.5,0.4,0.3").mean == [0.5, 0.4, 0.3]
    assert AugmentConfig(std="ImageNet").std == "imagenet"
    for bad in ({"crop_scale": "0.5"}, {"crop_scale": "0.9,0.1"}, {"std": "0,1,1"}, {"mean": "x"}):
        with pytest.raises(ValueError):
            AugmentConfig(**bad)


@pytest.mark.parametrize("resize", ["squash", "pad", "crop"])
@pytest.mark.parametrize("train", [True, False])
def test_every_mode_gives_the_square_and_keeps_mask_classes(resize, train):
    pre = Preprocess(32, resize=resize, interpolation="bicubic", crop_scale=(0.5, 1.0))
    img = _image(40, 90)
    mask = np.zeros((40, 90), np.uint8)
    mask[10:30, 20:70] = 2
    mask[0:5, 0:5] = 1
    out = transforms_for("light", pre, train=train)(image=img, mask=mask)
    assert tuple(out["image"].shape) == (3, 32, 32) and tuple(out["mask"].shape) == (32, 32)
    assert set(np.unique(out["mask"].numpy())) <= {0, 1, 2}


def test_pad_keeps_the_aspect_and_pads_with_zero_and_background():
    pre = Preprocess(32, resize="pad", interpolation="bilinear", mean=(0,) * 3, std=(1,) * 3)
    img = np.full((20, 80, 3), 200, np.uint8)  # 4:1 -> 32 x 8, centred: rows 12..19
    mask = np.full((20, 80), 3, np.uint8)
    out = transforms_for("none", pre, train=False)(image=img, mask=mask)
    x, m = out["image"].numpy(), out["mask"].numpy()
    assert np.allclose(x[:, 12:20, :], 200 / 255) and (m[12:20] == 3).all()
    assert (x[:, :12] == 0).all() and (x[:, 20:] == 0).all()
    assert (m[:12] == 0).all() and (m[20:] == 0).all()


def test_squash_with_area_is_what_every_run_did_before():
    import albumentations as A
    import cv2

    img, mask = _image(53, 91), np.random.default_rng(1).integers(0, 3, (53, 91), dtype=np.uint8)
    old = A.Resize(32, 32, interpolation=cv2.INTER_AREA, mask_interpolation=cv2.INTER_NEAREST)
    new = FitSquare("squash", 32, "area", 0.875)
    a, b = old(image=img, mask=mask), new(image=img, mask=mask)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])
    # a bundle stored before --resize existed: squash with area, whatever `interpolation` said
    pre = Preprocess.from_meta(
        {"img_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic"}
    )
    assert (pre.resize, pre.interpolation) == ("squash", "area")


def test_meta_round_trip_and_stored_checks():
    pre = Preprocess(48, "crop", "bicubic", 0.9, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    meta = {**pre.meta(), "in_chans": 3}
    assert Preprocess.from_meta(meta) == pre
    check_model_meta(meta, "model.json")
    for key, bad in (
        ("resize", "auto"),
        ("resize", "stretch"),
        ("interpolation", "cubic"),
        ("crop_pct", 1.5),
    ):
        with pytest.raises(RunError, match=key):
            check_model_meta({**meta, key: bad}, "model.json")
    # before --resize, `interpolation` named the pretrained config and is not checked
    check_model_meta({"img_size": 32, "interpolation": "random"}, "model.json")


@pytest.mark.parametrize("resize", ["squash", "pad"])
def test_a_cached_square_gives_the_tensors_of_the_file(tmp_path, resize):
    paths = []
    for i, shape in enumerate([(30, 70), (64, 20), (32, 32)]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(_image(*shape, seed=i)).save(paths[-1])
    pre = Preprocess(32, resize=resize, interpolation="bicubic")
    cache = DecodedCache.build(
        paths, size=32, resize=resize, interpolation="bicubic", mode="memory"
    )
    tf = transforms_for("none", pre, train=False)
    for i, p in enumerate(paths):
        direct = tf(image=np.asarray(Image.open(p).convert("RGB")))["image"]
        assert torch.equal(tf(image=cache[i])["image"], direct)
    with pytest.raises(ValueError, match="crop"):
        DecodedCache.build(paths, size=32, resize="crop", mode="memory")
