"""export's agreement check on the run's own validation images, and --embed-preprocessing.

The embedded graph is checked with independent code: Pillow decodes, onnxruntime runs the graph,
and the classes are compared with `predict`'s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import numpy_helper
from PIL import Image

import visionfit
from visionfit.config import RunConfig
from visionfit.data.preprocess import Preprocess
from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset
from visionfit.data.transforms import transforms_for
from visionfit.errors import ExportError, RunError
from visionfit.inference import export as export_mod
from visionfit.inference.agreement import validation_images
from visionfit.inference.backends import use_backend
from visionfit.inference.embed import preprocessing_model
from visionfit.inference.export import export_run
from visionfit.inference.loading import load_run
from visionfit.runs import files as run_files
from visionfit.tasks.registry import task_for_meta

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning"),
    pytest.mark.usefixtures("one_thread"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny classification run on its own data (some tests delete its images)."""
    root = tmp_path_factory.mktemp("agree")
    data = make_shapes_dataset(root / "data", n_per_class=12, size=40)
    cfg = {
        "runs_dir": str(root / "runs"),
        "data": {"path": str(data), "workers": 0},
        "model": {"name": "simple_cnn"},
        "augment": {"preset": "none", "img_size": 32},
        "train": {"epochs": 1, "batch_size": 8, "patience": None},
    }
    return visionfit.fit(RunConfig.from_dict(cfg), progress=False).run_dir


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("agree-seg")
    data = make_segmentation_dataset(root / "data", 12, size=32, seed=5)
    cfg = {
        "runs_dir": str(root / "runs"),
        "data": {"path": str(data), "task": "segment", "workers": 0},
        "model": {"name": "simple_cnn"},
        "augment": {"preset": "none", "img_size": 32},
        "train": {"epochs": 1, "batch_size": 8, "patience": None},
        "segment": {"arch": "unet", "width": 4, "tune_postprocess": False},
    }
    return visionfit.fit(RunConfig.from_dict(cfg), progress=False).run_dir


def _val_images(run_dir: Path) -> list[str]:
    df = pd.read_csv(run_dir / "splits.csv")
    return list(df.loc[df["split"] == "val", "image"])


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_agreement_on_validation_images_is_written(run, tmp_path, fmt):
    res = export_run(run, fmt, tmp_path / fmt)
    info = json.loads((tmp_path / fmt / "export.json").read_text())["agreement"]
    val = _val_images(run)
    assert info["images"] == min(32, len(val)) and info["source"] == "splits.csv val rows"
    assert info["measure"] == "top-1" and info["agreement"] == 1.0 and info["path"] == "predict"
    assert 0 <= info["max_prob_diff"] <= 1e-4 and info["missing"] == 0
    assert "top-1 100.00%" in res.summary() and f"on {info['images']} real image" in res.summary()


@pytest.mark.parametrize("embed", [False, True])
def test_segmentation_counts_mask_pixels(seg_run, tmp_path, embed):
    res = export_run(seg_run, "onnx", tmp_path / "seg", embed_preprocessing=embed)
    info = res.meta["agreement"]
    assert info["measure"] == "pixels" and info["agreement"] >= 0.99 and info["images"] > 0
    assert info["path"] == ("uint8" if embed else "predict")
    if embed:
        assert res.meta["output"]["shape"] == [1, 2, 32, 32]


def test_check_images_limits_and_zero_skips(run, tmp_path):
    export_run(run, "onnx", tmp_path / "a", check_images=3)
    assert json.loads((tmp_path / "a" / "export.json").read_text())["agreement"]["images"] == 3
    res = export_run(run, "onnx", tmp_path / "b", check_images=0)
    info = json.loads((tmp_path / "b" / "export.json").read_text())["agreement"]
    assert info == {"skipped": "--check-images 0"}
    assert "real-image agreement: skipped (--check-images 0)" in res.summary()


def _scale_last_weights(path: Path) -> None:
    """Break a graph the way a faulty converter would: the last layer's weights reversed."""
    model = onnx.load(str(path))
    inits = [t for t in model.graph.initializer if t.dims and len(t.dims) == 2]
    last = inits[-1]
    arr = numpy_helper.to_array(last)
    last.CopyFrom(numpy_helper.from_array(-arr[::-1].copy(), last.name))
    onnx.save(model, str(path))


def test_broken_graph_is_refused_and_nothing_written(run, tmp_path, monkeypatch):
    real = export_mod._to_onnx

    def broken(module, sample, path, meta):
        real(module, sample, path, meta)
        _scale_last_weights(path)

    monkeypatch.setattr(export_mod, "_to_onnx", broken)
    out = tmp_path / "broken"
    # the random-tensor parity check is off: only the real images see the fault
    with pytest.raises(ExportError, match="disagrees with PyTorch on real images") as e:
        export_run(run, "onnx", out, check=False)
    assert "--min-agreement 99.00%" in str(e.value) and "nothing was written" in str(e.value)
    assert not out.exists() or list(out.iterdir()) == []
    # with a threshold of 0 the decisions pass, and the outputs' difference on the same input
    # tensors (0.001 at most) still refuses the graph
    with pytest.raises(ExportError, match="outputs differ from PyTorch's by up to"):
        export_run(run, "onnx", tmp_path / "lenient", check=False, min_agreement=0.0)
    assert not (tmp_path / "lenient" / "export.json").exists()


def test_bad_options_are_clear_errors(run, tmp_path):
    with pytest.raises(ExportError, match="--min-agreement 1.5 is outside 0..1"):
        export_run(run, "onnx", tmp_path, min_agreement=1.5)
    with pytest.raises(ExportError, match="--check-images -1"):
        export_run(run, "onnx", tmp_path, check_images=-1)
    with pytest.raises(ExportError, match="--embed-preprocessing applies to --format onnx"):
        export_run(run, "torchscript", tmp_path, embed_preprocessing=True)
    with pytest.raises(ExportError, match="--opset 18 or higher"):
        export_run(run, "onnx", tmp_path, opset=17, embed_preprocessing=True)


def test_missing_images_are_skipped_and_counted(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    val = _val_images(copy)
    df = pd.read_csv(copy / "splits.csv")
    # point two validation rows at files that are gone
    gone = df.index[df["split"] == "val"][:2]
    df.loc[gone, "image"] = [str(tmp_path / f"gone{i}.png") for i in range(2)]
    df.to_csv(copy / "splits.csv", index=False)
    res = export_run(copy, "onnx", tmp_path / "a")
    info = res.meta["agreement"]
    assert info["missing"] == 2 and info["images"] == len(val) - 2
    assert "2 listed image(s) missing, skipped" in res.summary()
    df.loc[df["split"] == "val", "image"] = str(tmp_path / "gone.png")
    df.to_csv(copy / "splits.csv", index=False)
    res = export_run(copy, "onnx", tmp_path / "b")
    assert res.meta["agreement"] == {
        "skipped": f"none of the {len(val)} splits.csv val rows exist any more"
    }
    assert "real-image agreement: skipped (none of the" in res.summary()


def test_cv_run_uses_the_out_of_fold_rows(tmp_path, run):
    folds = pd.DataFrame({"image": _val_images(run) + ["/nowhere/x.png"], "fold": 0})
    run_files.write_folds(tmp_path, folds)
    images, source, missing = validation_images(tmp_path, 2)
    assert source == "folds.csv out-of-fold rows" and missing == 1 and len(images) == 2
    assert validation_images(tmp_path / "none", 4)[0] == []


def test_task_agreement_measures():
    ref = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.55, 0.45]])
    got = np.array([[0.8, 0.2], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55]])
    multi = task_for_meta({"task": "multiclass", "classes": ["a", "b"]})
    assert multi.export_agreement({"task": "multiclass"}, ref, got) == ("top-1", 0.5)
    # binary at the run's threshold 0.3: row 1 (0.6 vs 0.4) and row 3 stay on the same side
    binary = {"task": "binary", "threshold": 0.3}
    assert multi.export_agreement(binary, ref, got) == ("decisions", 1.0)
    ml = {"task": "multilabel", "threshold": [0.5, 0.5]}
    assert multi.export_agreement(ml, ref, got) == ("label decisions", 0.5)
    seg = task_for_meta({"task": "segment", "task_family": "segmentation", "classes": ["b", "f"]})
    maps = np.zeros((1, 2, 2, 2))
    maps[0, 1] = [[0.9, 0.2], [0.6, 0.4]]
    other = maps.copy()
    other[0, 1, 0, 1] = 0.7
    assert seg.export_agreement({"threshold": 0.5}, maps, other) == ("pixels", 0.75)
    reg = task_for_meta({"task": "regression", "task_family": "regression", "classes": []})
    value = reg.export_agreement(
        {"target_std": 2.0}, np.array([[1.0], [2.0]]), np.array([[1.1], [2.0]])
    )
    assert value[0] == "value" and value[1] == pytest.approx(0.95)


# ------------------------------------------------------------------------------------------------
# --embed-preprocessing


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))


@pytest.mark.parametrize("resize", ["squash", "pad", "crop"])
@pytest.mark.parametrize("interpolation", ["area", "nearest", "bilinear", "bicubic"])
def test_embedded_preprocessing_matches_the_pipeline(resize, interpolation):
    """The graph's normalised square equals the albumentations pipeline's to a grey level or two."""
    pre = Preprocess(32, resize, interpolation, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))
    sess = ort.InferenceSession(preprocessing_model(pre, 3, 18, "out").SerializeToString())
    t = transforms_for("none", pre, train=False)
    for i, (h, w) in enumerate([(32, 32), (64, 48), (47, 91), (20, 17)]):
        img = _smooth(h, w, i)
        ref = t(image=img)["image"].numpy()
        (got,) = sess.run(None, {"image": img})
        assert got.shape == (1, 3, 32, 32)
        grey = np.abs(ref - got[0]) * np.array(pre.std)[:, None, None] * 255
        assert np.quantile(grey, 0.99) <= 2.01, (h, w, grey.max())


def test_embedded_graph_takes_raw_uint8_and_gives_predicts_classes(run, tmp_path):
    res = export_run(run, "onnx", tmp_path / "u8", embed_preprocessing=True)
    info = json.loads((tmp_path / "u8" / "export.json").read_text())
    assert info["input"] == {"name": "image", "dtype": "uint8", "shape": ["height", "width", 3]}
    steps = info["embedded_preprocessing"]
    assert steps["resize"] == "squash" and steps["interpolation"] == "area"
    assert steps["normalise"]["mean"] == [0.5, 0.5, 0.5] and info["opset"] == 18
    assert info["agreement"]["path"] == "uint8" and info["agreement"]["agreement"] == 1.0
    assert "uint8 (height, width, 3)" in res.summary()
    # a consumer: Pillow decodes, onnxruntime runs the graph (40 px images, resized inside)
    sess = ort.InferenceSession(str(tmp_path / "u8" / "model.onnx"))
    images = _val_images(run)
    table = load_run(run).predict(images)
    for image, want in zip(images, table["pred"], strict=True):
        arr = np.asarray(Image.open(image).convert("RGB"))
        assert arr.shape == (40, 40, 3)
        (probs,) = sess.run(None, {"image": arr})
        assert info["classes"][int(np.argmax(probs[0]))] == want


def test_predict_onnx_backend_refuses_an_embedded_export(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    export_run(copy, "onnx", copy / "export" / "onnx", embed_preprocessing=True, check_images=0)
    with pytest.raises(RunError, match="takes decoded uint8 images"):
        use_backend(load_run(copy), "onnx")
