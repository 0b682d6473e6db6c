"""Fold ensembles: a cross-validation run predicts with the mean of its fold models.

A CV run's top-level model.json has ``"kind": "cv"`` and lists its members (``fold_0``...); each
member is an ordinary bundle directory. The members' probabilities are averaged per image, and
the decision threshold (binary / multi-label) is the one chosen on the out-of-fold predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from visionfit.engine.bundle import load_bundle_model
from visionfit.engine.predict import Predictor
from visionfit.engine.rundir import atomic_write_text
from visionfit.errors import RunError
from visionfit.tasks.classification import probabilities

ENSEMBLE_FORMAT = "visionfit-ensemble"
# Every member must be fed the same way for one decoded batch to serve them all.
_SHARED_KEYS = ("task", "classes", "in_chans", "img_size", "mean", "std")


def read_run_meta(run_dir: str | Path) -> dict | None:
    """The top-level model.json of a run, or None when there is none."""
    path = Path(run_dir) / "model.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


def is_ensemble_dir(run_dir: str | Path) -> bool:
    run_dir = Path(run_dir)
    meta = read_run_meta(run_dir) if run_dir.is_dir() else None
    return meta is not None and meta.get("kind") == "cv"


def write_ensemble_meta(run_dir: Path, members: list[str], meta: dict) -> None:
    """Write the CV run's model.json: the members and what they share (from the first member)."""
    first = read_run_meta(run_dir / members[0]) or {}
    info = {
        "format": ENSEMBLE_FORMAT,
        "version": 1,
        "kind": "cv",
        "members": members,
        **{k: first.get(k) for k in (*_SHARED_KEYS, "arch", "interpolation")},
        **meta,
    }
    atomic_write_text(run_dir / "model.json", json.dumps(info, indent=2))


class _MeanProbabilities(nn.Module):
    def __init__(self, models: list[nn.Module], task: str):
        super().__init__()
        self.members = nn.ModuleList(models)
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([probabilities(m(x), self.task) for m in self.members]).mean(dim=0)


class EnsemblePredictor(Predictor):
    """The mean of several bundles' probabilities; the same predict() / predict_proba() as a
    single model. Each image is decoded once and fed to every member.

    >>> ens = visionfit.load("runs/simple_cnn-cv-20260101-120000")  # a --folds run
    >>> ens.predict(["a.png"])
    """

    def __init__(self, models: list[nn.Module], meta: dict, run_dir: Path | None = None):
        super().__init__(_MeanProbabilities(models, meta["task"]), meta, run_dir)

    def _proba_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> EnsemblePredictor:
        run_dir = Path(run_dir)
        meta = read_run_meta(run_dir)
        members = list(meta.get("members") or [])
        if not members:
            raise RunError(f"{run_dir / 'model.json'} lists no fold models")
        models = []
        for name in members:
            model, member_meta = load_bundle_model(run_dir / name)
            for key in _SHARED_KEYS:
                if member_meta.get(key) != meta.get(key):
                    raise RunError(
                        f"fold model {run_dir / name} differs from the ensemble in {key!r}: "
                        f"{member_meta.get(key)!r} != {meta.get(key)!r}"
                    )
            models.append(model)
        return cls(models, meta, run_dir)
