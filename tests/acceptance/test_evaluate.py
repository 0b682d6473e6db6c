"""`visionfit evaluate RUN DATA`: the shared runs (copied, so their folders stay as trained)
scored on new labelled data; every number in metrics.json recomputed from predictions.csv (or
from the predicted mask PNGs) with scikit-learn / numpy."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, roc_auc_score

from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset

EVAL_FILES = ("metrics.json", "predictions.csv", "per_class.csv", "predictions.png", "report.html")
CLASSIFY_FILES = ("confusion.csv", "confusion.png", "roc_pr.png", "mistakes.png")


@pytest.fixture(scope="module")
def labelled(ws) -> Path:
    """New labelled images of the shared runs' classes: DATA/<class>/*.png."""
    return make_shapes_dataset(ws / "evaluate" / "labelled", n_per_class=4, seed=21)


@pytest.fixture(scope="module")
def refit_run(jobs, vf, ws, binary, h):
    """`train --folds 2 --refit --test-fraction 0.25`: the refit model gets a test score."""
    cwd = ws / "evaluate" / "refit"
    args = ("train", binary, "--folds", "2", "--refit", "--test-fraction", "0.25", *h.TINY)
    jobs.submit("evaluate-refit", lambda: vf(*args, cwd=cwd))
    return lambda: jobs.get("evaluate-refit")


def _copy(run: Path, ws: Path, name: str) -> Path:
    dest = ws / "evaluate" / name
    if not dest.exists():
        shutil.copytree(run, dest)
    return dest


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_multiclass_scores_agree_with_predictions_csv(vf, h, ws, single_run, labelled):
    run = _copy(single_run, ws, "single")
    res = vf("evaluate", run, labelled, cwd=ws).ok()
    out = run / "evaluate"
    assert str(out) in res.out.replace("\n", "")
    for name in (*EVAL_FILES, *CLASSIFY_FILES):
        assert (out / name).is_file(), name
    m = _metrics(out)
    rows = h.read_csv(out / "predictions.csv")
    assert m["n_images"] == len(rows) == 12 and m["model"] == "the run's model"
    true, pred = [r["true"] for r in rows], [r["pred"] for r in rows]
    assert abs(m["scores"]["acc"] - accuracy_score(true, pred)) < 1e-6
    classes = json.loads((run / "classes.json").read_text())
    probs = np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])
    assert np.allclose(probs.argmax(1), [classes.index(p) for p in pred])
    cm = h.read_csv(out / "confusion.csv")
    assert sum(int(r[c]) for r in cm for c in classes) == 12
    # the same command again: a second folder, the first kept
    vf("evaluate", run, labelled, cwd=ws).ok()
    assert (run / "evaluate-2" / "metrics.json").is_file()
    assert _metrics(run / "evaluate-2")["scores"] == m["scores"]


def test_segmentation_dice_from_the_masks(vf, ws, seg_run):
    run = _copy(seg_run, ws, "seg")
    data = make_segmentation_dataset(ws / "evaluate" / "seg-data", 6, size=32, seed=23)
    out = ws / "evaluate" / "seg-out"
    vf("evaluate", run, data, "--out", out, cwd=ws).ok()
    m = _metrics(out)
    dices = []
    with open(out / "predictions.csv", newline="") as f:
        for r in csv.DictReader(f):
            pred = np.asarray(Image.open(r["mask_file"])) > 0
            true = np.asarray(Image.open(data / "masks" / Path(r["image"]).name)) >= 128
            denom = pred.sum() + true.sum()
            dices.append(1.0 if denom == 0 else 2 * (pred & true).sum() / denom)
    assert len(dices) == m["n_images"] == 6
    assert abs(m["scores"]["dice"] - float(np.mean(dices))) < 1e-6
    assert (out / "report.html").is_file() and (out / "predictions.png").is_file()


def test_cv_ensemble_and_refit_on_a_csv(vf, h, ws, cv_run, binary):
    run = _copy(cv_run, ws, "cv")
    table = ws / "evaluate" / "cv-data.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "kind"])
        w.writerows((p, p.parent.name) for p in sorted(binary.glob("*/*.png"))[::3])
    args = ("--csv", table, "--image-col", "file", "--label-col", "kind")
    vf("evaluate", run, *args, cwd=ws).ok()
    m = _metrics(run / "evaluate")
    assert m["model"] == "the fold ensemble (2 models)"
    rows = h.read_csv(run / "evaluate" / "predictions.csv")
    classes = json.loads((run / "classes.json").read_text())
    y = [r["true"] == classes[1] for r in rows]
    p = [float(r[f"prob_{classes[1]}"]) for r in rows]
    assert abs(m["scores"]["auroc"] - roc_auc_score(y, p)) < 1e-6
    assert abs(m["scores"]["acc"] - accuracy_score([r["true"] for r in rows],
                                                   [r["pred"] for r in rows])) < 1e-6  # fmt: skip
    out = ws / "evaluate" / "refit_eval"
    vf("evaluate", run / "refit", *args, "--out", out, cwd=ws).ok()
    assert _metrics(out)["model"].startswith("the refit model")


def test_refit_model_scored_on_the_test_split(refit_run):
    res = refit_run().ok()
    run = res.run_dir("simple_cnn-cv-*")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["n_test"] == summary["refit_test"]["n_test"] > 0
    assert json.loads((run / "refit" / "test_scores.json").read_text()) == summary["refit_test"]
    assert "the refit model" in res.out and "the fold ensemble" in res.out


def test_wrong_run_and_unknown_label_are_one_line(vf, h, ws, single_run):
    line = h.one_line_error(vf("evaluate", ws / "nowhere", ws, cwd=ws))
    assert "run directory not found" in line
    alien = make_shapes_dataset(ws / "evaluate" / "alien", 2, classes=("circle", "star"), seed=3)
    line = h.one_line_error(vf("evaluate", single_run, alien, cwd=ws))
    assert "'star'" in line and "not among the run's classes" in line
    assert not (single_run / "evaluate").exists()
