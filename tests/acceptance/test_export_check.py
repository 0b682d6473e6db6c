"""`visionfit export`'s agreement check on the run's own validation images, and
`--embed-preprocessing`: subprocesses on a tiny run trained here on generated files.

The embedded graph is run here with onnxruntime directly on images Pillow decoded, and its
classes compared with `visionfit predict`'s CSV."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from visionfit.data.synthetic import make_shapes_dataset

from .conftest import one_line_error


def _flat(text: str) -> str:
    """The console wraps long lines: one space for every run of whitespace."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def run(vf, ws, h) -> Path:
    """A tiny run on its own data (40 px images, so the export resizes them to 32)."""
    data = make_shapes_dataset(ws / "export-check" / "data", n_per_class=12, size=40, seed=3)
    return vf("train", data, *h.TINY, cwd=ws / "export-check").ok().run_dir()


def _val_rows(run: Path) -> list[str]:
    with open(run / "splits.csv", newline="") as f:
        return [r["image"] for r in csv.DictReader(f) if r["split"] == "val"]


def test_export_prints_agreement_and_writes_it(vf, ws, run):
    """README: visionfit export RUN --check-images 32 --min-agreement 0.99"""
    cwd = ws / "export-check" / "a"
    res = vf(
        "export", run, "--out", "onnx/", "--check-images", "32", "--min-agreement", "0.99", cwd=cwd
    ).ok()
    info = json.loads((cwd / "onnx" / "export.json").read_text())["agreement"]
    n = len(_val_rows(run))
    assert info["images"] == min(32, n) and info["source"] == "splits.csv val rows"
    assert info["measure"] == "top-1" and info["agreement"] == 1.0 and info["missing"] == 0
    assert info["max_prob_diff"] <= 1e-4
    out = _flat(res.out)
    assert f"agreement on {info['images']} real image(s) (splits.csv val rows" in out, res.tail()
    assert "top-1 100.00%" in out and "at least 99.00%" in out


def test_check_images_limits_and_zero_skips(vf, ws, run):
    cwd = ws / "export-check" / "b"
    vf("export", run, "--out", "few/", "--check-images", "3", cwd=cwd).ok()
    assert json.loads((cwd / "few" / "export.json").read_text())["agreement"]["images"] == 3
    res = vf(
        "export", run, "-f", "torchscript", "--out", "none/", "--check-images", "0", cwd=cwd
    ).ok()
    assert "real-image agreement: skipped (--check-images 0)" in _flat(res.out)
    info = json.loads((cwd / "none" / "export.json").read_text())["agreement"]
    assert info == {"skipped": "--check-images 0"}


def test_bad_min_agreement_is_one_line(vf, ws, run, h):
    cwd = ws / "export-check" / "c"
    line = h.one_line_error(vf("export", run, "--out", "x/", "--min-agreement", "1.5", cwd=cwd))
    assert "--min-agreement 1.5 is outside 0..1" in line
    assert not (cwd / "x" / "model.onnx").exists()


def test_embedded_preprocessing_takes_raw_uint8(vf, ws, run):
    """README: visionfit export RUN --embed-preprocessing   (RUN/export/onnx-uint8/model.onnx)"""
    cwd = ws / "export-check" / "d"
    res = vf("export", run, "--embed-preprocessing", cwd=cwd).ok()
    folder = run / "export" / "onnx-uint8"
    info = json.loads((folder / "export.json").read_text())
    assert info["input"]["dtype"] == "uint8" and info["input"]["shape"] == ["height", "width", 3]
    assert info["embedded_preprocessing"]["resize"] == "squash"
    assert info["agreement"]["path"] == "uint8" and info["agreement"]["agreement"] == 1.0
    assert "decoded uint8 images in" in _flat(res.out)
    images = _val_rows(run)
    vf("predict", run, *images, "--out", "preds.csv", cwd=cwd).ok()
    with open(cwd / "preds.csv", newline="") as f:
        want = {r["image"]: r["pred"] for r in csv.DictReader(f)}
    sess = ort.InferenceSession(str(folder / "model.onnx"))
    for image in images:
        arr = np.asarray(Image.open(image).convert("RGB"))  # 40 x 40 x 3, resized in the graph
        (probs,) = sess.run(None, {"image": arr})
        got = info["classes"][int(np.argmax(probs[0]))]
        assert got == want[next(k for k in want if Path(k).name == Path(image).name)]


def test_predict_onnx_backend_refuses_an_embedded_graph(vf, ws, run, h):
    copy = ws / "export-check" / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    cwd = ws / "export-check" / "e"
    vf("export", copy, "--embed-preprocessing", "--out", copy / "export" / "onnx", cwd=cwd).ok()
    image = _val_rows(run)[0]
    line = h.one_line_error(vf("predict", copy, image, "--backend", "onnx", cwd=cwd))
    assert "takes decoded uint8 images" in line and "--embed-preprocessing" in line


def test_missing_validation_images_are_said(vf, ws, run):
    copy = ws / "export-check" / "moved"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    rows = (copy / "splits.csv").read_text().replace(str(ws), str(ws / "gone"))
    (copy / "splits.csv").write_text(rows)
    res = vf("export", copy, "--out", "x/", cwd=ws / "export-check" / "f").ok()
    n = len(_val_rows(run))
    assert f"real-image agreement: skipped (none of the {n} splits.csv val rows exist" in _flat(
        res.out
    ), res.tail()


def test_segmentation_unet_exports_with_pixel_agreement(vf, ws, seg_run):
    """The default U-Net exports to ONNX and TorchScript (torchvision's first import used to land
    inside the trace), each checked on the run's validation images, pixel by pixel."""
    cwd = ws / "export-check" / "seg"
    for fmt in ("onnx", "torchscript"):
        vf("export", seg_run, "--format", fmt, "--out", f"{fmt}/", cwd=cwd).ok()
        info = json.loads((cwd / fmt / "export.json").read_text())["agreement"]
        assert info["measure"] == "pixels" and info["agreement"] >= 0.99, info
        assert info["images"] >= 1 and info["missing"] == 0


def test_verify_passes_the_export_and_refuses_a_broken_graph(vf, ws, run):
    """README: visionfit export RUN --verify DIR — the export as written agrees; the same graph
    with one weight tensor changed (a broken graph) is refused with exit 2, nothing written."""
    import onnx
    from onnx import numpy_helper

    cwd = ws / "export-check" / "verify"
    vf("export", run, "--out", "onnx/", cwd=cwd).ok()
    res = vf("export", run, "--verify", "onnx/", cwd=cwd).ok()
    assert "agreement on" in _flat(res.out) and "100.00%" in _flat(res.out)

    shutil.copytree(cwd / "onnx", cwd / "broken")
    graph = onnx.load(cwd / "broken" / "model.onnx")
    weights = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    changed = numpy_helper.to_array(weights) * 1.05  # 5 % off: decisions may still agree
    weights.CopyFrom(numpy_helper.from_array(changed.astype(np.float32), weights.name))
    onnx.save(graph, cwd / "broken" / "model.onnx")
    before = sorted(p.name for p in (cwd / "broken").iterdir())
    bad = vf("export", run, "--verify", "broken/", cwd=cwd)
    assert bad.rc == 2, bad.tail()
    line = one_line_error(bad)
    assert "broken" in line and "does not compute what the run computes" in line
    assert sorted(p.name for p in (cwd / "broken").iterdir()) == before
