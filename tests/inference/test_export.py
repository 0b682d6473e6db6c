"""Export to ONNX / TorchScript and prediction through onnxruntime, on tiny trained runs.

The exported graphs are checked here with independent code: onnxruntime / torch.jit called
directly (not visionfit's wrappers) against the eager network's own probabilities.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset
from visionfit.errors import ExportError, RunError
from visionfit.inference import export as export_mod
from visionfit.inference.export import export_run

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning"),
    pytest.mark.usefixtures("one_thread"),
]


def _fit(root: Path, data: Path | dict, model: dict, img_size: int, **extra):
    cfg = {
        "runs_dir": str(root / "runs"),
        "data": data if isinstance(data, dict) else {"path": str(data), "workers": 0},
        "model": model,
        "augment": {"preset": "none", "img_size": img_size},
        "train": {"epochs": 1, "batch_size": 8, "patience": None},
        **extra,
    }
    run = visionfit.cross_validate if "cv" in extra else visionfit.fit
    return run(RunConfig.from_dict(cfg), progress=False).run_dir


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", n_per_class=12)


@pytest.fixture(scope="module")
def cls_run(shapes, tmp_path_factory) -> Path:
    return _fit(tmp_path_factory.mktemp("cls"), shapes, {"name": "simple_cnn"}, 32)


@pytest.fixture(scope="module")
def timm_run(tmp_path_factory) -> Path:
    """A timm resnet18 on a binary task (the sigmoid -> two-column probability path)."""
    root = tmp_path_factory.mktemp("timm")
    data = make_shapes_dataset(root / "data", n_per_class=12, classes=("circle", "square"))
    return _fit(root, data, {"name": "resnet18"}, 32)


@pytest.fixture(scope="module")
def cv_run(shapes, tmp_path_factory) -> Path:
    return _fit(tmp_path_factory.mktemp("cv"), shapes, {"name": "simple_cnn"}, 32, cv={"folds": 2})


def _seg_fit(root: Path, arch: str, img_size: int, folds: int = 0) -> Path:
    data = make_segmentation_dataset(root / "data", 12, size=32, seed=5)
    extra = {"segment": {"arch": arch, "width": 4, "tune_postprocess": False}}
    if folds:
        extra["cv"] = {"folds": folds}
    cfg_data = {"path": str(data), "task": "segment", "workers": 0}
    return _fit(root, cfg_data, {"name": "simple_cnn"}, img_size, **extra)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory) -> Path:
    return _seg_fit(tmp_path_factory.mktemp("seg"), "unet", 32)


@pytest.fixture(scope="module")
def seg_cv_run(tmp_path_factory) -> Path:
    return _seg_fit(tmp_path_factory.mktemp("segcv"), "unet", 32, folds=2)


RUNS = ["cls_run", "timm_run", "seg_run"]


def _eager_probs(run_dir: Path, x: torch.Tensor) -> np.ndarray:
    """Probabilities straight from the loaded networks, as the predictors compute them."""
    p = visionfit.load(run_dir)
    with torch.no_grad():
        return p._probs(x, [()]).numpy()


def _batch(run_dir: Path, n: int, seed: int = 7) -> torch.Tensor:
    meta = json.loads((run_dir / "model.json").read_text())
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, meta["in_chans"], meta["img_size"], meta["img_size"], generator=g)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("run_name", RUNS)
def test_export_parity_and_dynamic_batch(run_name, fmt, request, tmp_path):
    run_dir = request.getfixturevalue(run_name)
    result = export_run(run_dir, fmt, tmp_path / "out")
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    info = json.loads((tmp_path / "out" / "export.json").read_text())
    meta = json.loads((run_dir / "model.json").read_text())
    for key in ("img_size", "mean", "std", "in_chans", "classes", "task", "interpolation"):
        assert info[key] == meta[key], key
    assert info["format"] == fmt and info["parity"]["max_abs_diff"] == result.max_abs_diff
    assert info["parity"]["batch_sizes"] == [1, 3]
    if meta["task"] == "segment":
        assert (
            info["min_area"] == meta.get("min_area", 0.0) and info["threshold"] == meta["threshold"]
        )

    x = _batch(run_dir, 5)  # exported at batch 1, run at batch 5
    if fmt == "onnx":
        sess = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
        (inp,) = sess.get_inputs()
        assert inp.shape[0] == "batch" and inp.shape[1:] == list(x.shape[1:])
        got = sess.run(None, {inp.name: x.numpy()})[0]
    else:
        with torch.no_grad():
            got = torch.jit.load(str(result.model_path))(x).numpy()
    want = _eager_probs(run_dir, x)
    assert got.shape == want.shape and got.shape[0] == 5
    assert np.abs(got - want).max() <= 1e-4
    if meta["task"] == "segment":
        assert got.shape[1:] == (2, 32, 32)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)  # class probabilities
    else:
        assert got.shape[1] == len(meta["classes"])


def test_default_location_and_summary(cls_run, tmp_path, run_cli):
    run = tmp_path / "run"
    shutil.copytree(cls_run, run)
    code, text, err = run_cli(["export", run, "--format", "torchscript"])
    assert code == 0, err
    text = " ".join(text.split())
    path = run / "export" / "torchscript" / "model.torchscript.pt"
    assert path.is_file() and (path.parent / "export.json").is_file()
    assert str(path) in text and "parity vs PyTorch: max abs difference" in text
    assert "(batch, 3)" in text and "tolerance 1e-04" in text


def test_cv_ensemble_exports_one_graph_of_the_fold_mean(cv_run, tmp_path):
    result = export_run(cv_run, "onnx", tmp_path / "o")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["export.json", "model.onnx"]
    assert json.loads(result.meta_path.read_text())["members"] == ["fold_0", "fold_1"]
    x = _batch(cv_run, 4)
    sess = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    folds = [_eager_probs(cv_run / f"fold_{k}", x) for k in (0, 1)]
    assert np.abs(got - (folds[0] + folds[1]) / 2).max() <= 1e-5
    assert np.abs(got - folds[0]).max() > 1e-4  # both members are in the graph


def test_segmentation_cv_ensemble_exports_the_fold_mean(seg_cv_run, tmp_path):
    result = export_run(seg_cv_run, "onnx", tmp_path / "o")
    assert result.max_abs_diff <= 1e-4
    x = _batch(seg_cv_run, 2)
    got = ort.InferenceSession(str(result.model_path)).run(None, {"input": x.numpy()})[0]
    folds = [_eager_probs(seg_cv_run / f"fold_{k}", x) for k in (0, 1)]
    assert np.abs(got - (folds[0] + folds[1]) / 2).max() <= 1e-5
    run = tmp_path / "run"  # predict --backend onnx on the fold ensemble: the same masks
    shutil.copytree(seg_cv_run, run)
    images = sorted((seg_cv_run.parent.parent / "data" / "images").glob("*.png"))[:6]
    eager = visionfit.load(run).predictions(images, tta="hflip").masks
    onnx = visionfit.load(run, backend="onnx").predictions(images, tta="hflip").masks
    assert all(np.array_equal(a, b) for a, b in zip(eager, onnx, strict=True))


def test_unet_original_exports_with_overlap_tile(tmp_path):
    run = _seg_fit(tmp_path, "unet_original", 188)
    result = export_run(run, "onnx", tmp_path / "o")
    assert result.max_abs_diff <= 1e-4
    x = _batch(run, 2)
    got = ort.InferenceSession(str(result.model_path)).run(None, {"input": x.numpy()})[0]
    assert got.shape == (2, 2, 188, 188)  # every pixel gets a probability
    assert np.abs(got - _eager_probs(run, x)).max() <= 1e-4


@pytest.mark.parametrize("run_name", ["cls_run", "cv_run"])
def test_predict_with_onnx_backend_gives_the_same_classes(run_name, request, shapes, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(request.getfixturevalue(run_name), run)
    images = sorted(shapes.rglob("*.png"))
    eager = visionfit.load(run).predict(images, batch_size=7)
    onnx = visionfit.load(run, backend="onnx").predict(images, batch_size=7)
    exported = run / "export" / "onnx" / "model.onnx"
    assert exported.is_file()  # exported on the fly
    assert list(onnx["pred"]) == list(eager["pred"])
    probs = [c for c in eager.columns if c.startswith("prob_")]
    assert np.abs(onnx[probs].to_numpy() - eager[probs].to_numpy()).max() <= 1e-4
    mtime = exported.stat().st_mtime_ns
    again = visionfit.predict(run, images[:3], backend="onnx", tta=True)
    assert exported.stat().st_mtime_ns == mtime  # reused, not exported again
    tta = visionfit.load(run).predict(images[:3], tta=True)
    assert list(again["pred"]) == list(tta["pred"])


def test_segmentation_predict_with_onnx_backend_gives_the_same_masks(seg_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(seg_run, run)
    images = sorted((seg_run.parent.parent / "data" / "images").glob("*.png"))
    for tta in (False, "hvflip"):
        eager = visionfit.load(run).predictions(images, tta=tta)
        onnx = visionfit.load(run, backend="onnx").predictions(images, tta=tta)
        eager_masks, eager_max = eager.masks, eager.max_prob
        onnx_masks, errors, onnx_max = onnx.masks, onnx.errors, onnx.max_prob
        assert not any(errors)
        # identical masks (a pixel sitting exactly on the threshold could differ; none here)
        assert all(np.array_equal(a, b) for a, b in zip(eager_masks, onnx_masks, strict=True))
        np.testing.assert_allclose(onnx_max, eager_max, atol=1e-4)


def test_stale_onnx_export_is_refused(cls_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cls_run, run)
    visionfit.load(run, backend="onnx")
    info_path = run / "export" / "onnx" / "export.json"
    info = json.loads(info_path.read_text())
    info["source"]["model.safetensors"] = "0" * 64  # as if the bundle had changed since
    info_path.write_text(json.dumps(info))
    with pytest.raises(RunError, match="exported from other weights"):
        visionfit.load(run, backend="onnx")
    info_path.unlink()
    with pytest.raises(RunError, match="has no readable export.json beside it"):
        visionfit.load(run, backend="onnx")
    with pytest.raises(RunError, match="unknown backend 'tensorrt'"):
        visionfit.load(run, backend="tensorrt")


def test_existing_output_is_never_overwritten(cls_run, tmp_path):
    out = tmp_path / "o"
    export_run(cls_run, "onnx", out)
    before = (out / "model.onnx").read_bytes(), (out / "export.json").read_bytes()
    with pytest.raises(ExportError, match="model.onnx exists and is never overwritten"):
        export_run(cls_run, "onnx", out)
    assert ((out / "model.onnx").read_bytes(), (out / "export.json").read_bytes()) == before
    # a stray export.json alone is protected too
    other = tmp_path / "p"
    other.mkdir()
    (other / "export.json").write_text("{}")
    with pytest.raises(ExportError, match="export.json exists"):
        export_run(cls_run, "torchscript", other)
    assert sorted(p.name for p in other.iterdir()) == ["export.json"]
    assert (other / "export.json").read_text() == "{}"


def test_unfinished_or_missing_run_is_a_clear_error(tmp_path):
    run = tmp_path / "simple_cnn-20260101-000000"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model: {name: simple_cnn}\n")
    with pytest.raises(RunError, match="no model bundle.*finished visionfit run"):
        export_run(run, "onnx")
    with pytest.raises(RunError, match="run directory not found"):
        export_run(tmp_path / "nope", "onnx")
    with pytest.raises(ExportError, match="unknown export format 'tflite'.*onnx, torchscript"):
        export_run(run, "tflite")
    assert not (run / "export").exists()


class _Unexportable(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.inv(x[:, 0, :4, :4]).flatten(1)


def test_unsupported_operator_names_model_and_operator(cls_run, tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(export_mod, "probability_module", lambda predictor: _Unexportable())
    with pytest.raises(ExportError) as info:
        export_run(cls_run, "onnx", tmp_path / "o")
    msg = str(info.value)
    assert "cannot export simple_cnn to ONNX (opset 17)" in msg and "aten::linalg_inv" in msg
    assert "\n" not in msg and "--format torchscript" in msg
    assert "Torch IR graph" not in capfd.readouterr().out  # the exporter's dump is silenced
    assert list((tmp_path / "o").iterdir()) == []  # no model, no temporary file left


def test_failed_parity_check_writes_nothing(cls_run, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "TOLERANCE", -1.0)  # no difference can pass
    with pytest.raises(ExportError, match="parity check failed for simple_cnn.*nothing was"):
        export_run(cls_run, "torchscript", tmp_path / "o")
    assert list((tmp_path / "o").iterdir()) == []
    result = export_run(cls_run, "torchscript", tmp_path / "o", check=False)
    assert result.max_abs_diff is None and "parity check: skipped" in result.summary()
