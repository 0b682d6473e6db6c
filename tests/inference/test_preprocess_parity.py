"""A pretrained timm network trained with `--resize crop` on non-square images: predict, the
ONNX export (onnxruntime), `load(backend="onnx")` and `serve` all give the probabilities the
network gives on timm's own eval transform of the image (checked with timm, not visionfit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import timm
import torch
from fastapi.testclient import TestClient
from PIL import Image
from safetensors.torch import save_file
from timm.data import create_transform

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.inference.export import export_run
from visionfit.serve.app import create_app

NET = "test_efficientnet"  # pretrained_cfg: bicubic, crop_pct 0.95, ImageNet mean/std
SIZE = 32


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crop")
    src = make_shapes_dataset(root / "src", n_per_class=8, classes=("circle", "square"), seed=3)
    for i, p in enumerate(sorted(src.glob("*/*.png"))):
        out = root / "data" / p.parent.name / p.name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(p).convert("RGB").resize((56, 36) if i % 2 else (34, 50)).save(out)
    weights = root / "net.safetensors"
    net = timm.create_model(NET, pretrained=False)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(root / "runs"),
            "data": {"path": str(root / "data"), "workers": 0},
            "model": {"name": NET, "weights": str(weights)},
            "augment": {"preset": "light", "img_size": SIZE},  # resize auto: crop
            "train": {"epochs": 1, "batch_size": 8, "patience": None},
        }
    )
    torch.set_num_threads(1)
    return visionfit.fit(cfg, progress=False).run_dir


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A non-square photo-like image (smooth noise) none of the training images resembles."""
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 256, (30, 45, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("img") / "wide.png"
    Image.fromarray(arr).resize((117, 61), Image.BICUBIC).save(path)
    return path


@pytest.fixture(scope="module")
def reference(run_dir, image) -> tuple[np.ndarray, np.ndarray]:
    """(timm's eval tensor of the image, the bundle's network's probabilities on it)."""
    meta = json.loads((run_dir / "model.json").read_text())
    tf = create_transform(
        input_size=(3, SIZE, SIZE),
        interpolation="bicubic",
        crop_pct=0.95,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )
    x = tf(Image.open(image).convert("RGB"))[None]
    assert meta["resize"] == "crop" and meta["interpolation"] == "bicubic"
    assert meta["crop_pct"] == 0.95 and meta["mean"] == [0.485, 0.456, 0.406]
    with torch.no_grad():
        probs = visionfit.load(run_dir)._probs(x, [()]).numpy()[0]
    return x.numpy(), probs


def _row(frame, classes) -> np.ndarray:
    return frame[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)[0]


def test_predict_applies_the_eval_transform_training_used(run_dir, image, reference):
    p = visionfit.load(run_dir)
    got = _row(p.predict([str(image)]), p.classes)
    np.testing.assert_allclose(got, reference[1], atol=1e-5)


def test_onnx_export_and_backend_give_the_same_probabilities(run_dir, image, reference, tmp_path):
    result = export_run(run_dir, "onnx", tmp_path / "onnx")
    info = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert info["resize"] == "crop" and info["crop_pct"] == 0.95
    assert info["interpolation"] == "bicubic" and info["img_size"] == SIZE
    assert "shorter side to floor(32 / 0.95) = 33" in info["preprocess"]
    assert "centre 32 x 32" in info["preprocess"] and "Pillow bicubic" in info["preprocess"]
    sess = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: reference[0]})
    np.testing.assert_allclose(out[0], reference[1], atol=1e-4)
    p = visionfit.load(run_dir, backend="onnx")
    np.testing.assert_allclose(_row(p.predict([str(image)]), p.classes), reference[1], atol=1e-4)


def test_serve_gives_the_same_probabilities(run_dir, image, reference):
    with TestClient(create_app(run_dir)) as client:
        info = client.get("/model")
        r = client.post("/predict", files={"file": ("wide.png", image.read_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    probs = r.json()["probs"]
    classes = visionfit.load(run_dir).classes
    np.testing.assert_allclose([probs[c] for c in classes], reference[1], atol=1e-5)
    assert info.status_code == 200, info.text
    assert info.json()["resize"] == "crop" and info.json()["crop_pct"] == 0.95


def test_a_bundle_stored_before_resize_existed_is_squashed_with_area(run_dir, image, tmp_path):
    """model.json without `resize`/`crop_pct` (its `interpolation` the backbone's config, never
    applied): predict squashes with OpenCV INTER_AREA and normalises with the stored mean/std."""
    import shutil

    import cv2

    old = tmp_path / "old-run"
    shutil.copytree(run_dir, old)
    meta = json.loads((old / "model.json").read_text())
    del meta["resize"], meta["crop_pct"]
    (old / "model.json").write_text(json.dumps(meta))
    arr = np.asarray(Image.open(image).convert("RGB"))
    small = cv2.resize(arr, (SIZE, SIZE), interpolation=cv2.INTER_AREA) / 255.0
    x = (small - np.array(meta["mean"])) / np.array(meta["std"])
    x = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))
    p = visionfit.load(old)
    with torch.no_grad():
        want = p._probs(x, [()]).numpy()[0]
    np.testing.assert_allclose(_row(p.predict([str(image)]), p.classes), want, atol=1e-5)
