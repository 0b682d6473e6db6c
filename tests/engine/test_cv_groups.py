"""Group folds from a CSV column through a network CV run, and a multi-class fold ensemble."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import visionfit
from visionfit.config import RunConfig
from visionfit.engine.cv import cross_validate
from visionfit.inference.predict import expand_inputs


def test_group_cv_keeps_groups_whole_and_multiclass_ensemble_predicts(shapes_dir, tmp_path):
    images = expand_inputs([shapes_dir])
    csv = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "image": [str(p.relative_to(shapes_dir)) for p in images],
            "label": [p.parent.name for p in images],
            "patient": [f"p{i % 45}" for i in range(len(images))],  # 4 images per patient
        }
    ).to_csv(csv, index=False)
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path / "runs"),
            "data": {"csv": str(csv), "root": str(shapes_dir), "group_col": "patient"},
            "augment": {"img_size": 32},
            "train": {"epochs": 1, "batch_size": 32, "patience": None},
            "cv": {"folds": 3},
        }
    ).with_overrides({"data.workers": 0})
    r = cross_validate(cfg, progress=False)
    assert r.fold_kind == "group" and r.task == "multiclass"
    folds = pd.read_csv(r.run_dir / "folds.csv")
    assert (folds.groupby("group")["fold"].nunique() == 1).all()
    saved = RunConfig.from_yaml(r.run_dir / "config.yaml")
    assert saved.cv.kind == "group" and saved.cv.folds == 3
    oof = pd.read_csv(r.run_dir / "oof.csv")
    assert (
        len(oof) == 180 and (oof["pred"] == oof.filter(like="prob_").idxmax(axis=1).str[5:]).all()
    )
    df = visionfit.load(r.run_dir).predict(images[:6])
    np.testing.assert_allclose(df.filter(like="prob_").sum(axis=1), 1.0, atol=1e-5)
    meta = json.loads((r.run_dir / "model.json").read_text())
    assert meta["task"] == "multiclass" and meta["threshold"] == 0.5
