"""reports/evaluation.py: a finished run scored on labelled data; the numbers are the task's
own scorer's on predictions.csv, which holds the run's predictor's probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

import visionfit
from visionfit.errors import RunError
from visionfit.reports.evaluation import evaluate, new_output_dir
from visionfit.runs.files import read_config_dict


def _data_path(run) -> str:
    return read_config_dict(run)["data"]["path"]


def test_multiclass_numbers_come_from_predictions_csv(tiny_run, tmp_path):
    run = tiny_run("multiclass")
    ev = evaluate(run, {"data.path": _data_path(run)}, out=tmp_path / "ev")
    table = pd.read_csv(ev.out_dir / "predictions.csv", dtype={"true": str, "pred": str})
    assert ev.n_images == len(table) == 60 and ev.metric == "acc"
    assert ev.scores["acc"] == pytest.approx(accuracy_score(table["true"], table["pred"]), 1e-9)
    macro = f1_score(table["true"], table["pred"], average="macro")
    assert ev.scores["macro_f1"] == pytest.approx(macro, 1e-9)
    # the probabilities are the run's predictor's, as `visionfit predict` gives them
    again = visionfit.load(run).predict(list(table["image"]))
    classes = json.loads((run / "classes.json").read_text())
    cols = [f"prob_{c}" for c in classes]
    assert np.allclose(again[cols].to_numpy(), table[cols].to_numpy(), atol=1e-6)
    per_class = pd.read_csv(ev.out_dir / "per_class.csv")
    assert list(per_class["class"]) == classes and per_class["support"].sum() == 60
    cm = pd.read_csv(ev.out_dir / "confusion.csv", index_col=0)
    assert np.trace(cm.to_numpy()) == (table["true"] == table["pred"]).sum()
    metrics = json.loads((ev.out_dir / "metrics.json").read_text())
    assert metrics["scores"] == pytest.approx(ev.scores) and metrics["n_images"] == 60
    page = (ev.out_dir / "report.html").read_text()
    assert "data:image/png;base64" in page and 'src="confusion.png"' not in page


def test_a_subset_of_classes(tiny_run, tmp_path):
    """DATA holding the run's last two classes (indices 0, 1 in DATA, 1, 2 in the run): its
    labels keep the run's class indices."""
    run = tiny_run("multiclass")
    classes = json.loads((run / "classes.json").read_text())
    rows = [
        (str(p), c) for c in classes[1:] for p in sorted((Path(_data_path(run)) / c).glob("*"))[:4]
    ]
    csv = tmp_path / "two.csv"
    pd.DataFrame(rows, columns=["image", "label"]).to_csv(csv, index=False)
    ev = evaluate(run, {"data.csv": str(csv)}, out=tmp_path / "ev")
    table = pd.read_csv(ev.out_dir / "predictions.csv", dtype=str)
    assert list(table["true"]) == [r[1] for r in rows]
    assert ev.scores["acc"] == pytest.approx((table["pred"] == table["true"]).mean())
    assert list(pd.read_csv(ev.out_dir / "per_class.csv")["support"]) == [0, 4, 4]


def test_multilabel_per_label_thresholds(tiny_run, tmp_path):
    run = tiny_run("multilabel")
    csv = read_config_dict(run)["data"]["csv"]
    ev = evaluate(run, {"data.csv": csv}, out=tmp_path / "ev")
    table = pd.read_csv(ev.out_dir / "predictions.csv")
    classes = json.loads((run / "classes.json").read_text())
    threshold = np.broadcast_to(
        np.asarray(json.loads((run / "model.json").read_text())["threshold"]), (len(classes),)
    )
    y = table[[f"true_{c}" for c in classes]].to_numpy()
    pred = table[[f"prob_{c}" for c in classes]].to_numpy() >= threshold[None, :]
    assert ev.scores["acc"] == pytest.approx(float((pred == y).mean()), 1e-9)
    per_class = pd.read_csv(ev.out_dir / "per_class.csv")
    assert np.allclose(per_class["threshold"], threshold)
    assert not (ev.out_dir / "confusion.csv").exists()  # one class per image only


def test_baseline_run(tiny_run, tmp_path):
    run = tiny_run("baseline")
    ev = evaluate(run, {"data.path": _data_path(run)}, out=tmp_path / "ev")
    assert ev.model.startswith("the baseline") and ev.n_images == 60
    table = pd.read_csv(ev.out_dir / "predictions.csv", dtype={"true": str, "pred": str})
    assert ev.scores["acc"] == pytest.approx(accuracy_score(table["true"], table["pred"]))


def test_output_folders_are_new(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert new_output_dir(run, None).name == "evaluate"
    assert new_output_dir(run, None).name == "evaluate-2"
    assert new_output_dir(run, None).name == "evaluate-3"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert new_output_dir(run, empty) == empty
    (empty / "x").write_text("taken")
    with pytest.raises(RunError, match="not an empty folder"):
        new_output_dir(run, empty)


def test_not_a_run(tmp_path):
    with pytest.raises(RunError, match="no model to evaluate"):
        evaluate(tmp_path, {"data.path": str(tmp_path)})
