"""`visionfit demo --task NAME` runs the task's own demo (`Task.demo()`), the same way for all."""

from __future__ import annotations

import pytest

from visionfit.cli.demo import demo_for, run_demo
from visionfit.errors import VisionfitError
from visionfit.tasks import registry
from visionfit.tasks.base import TaskBase


def test_each_builtin_task_has_a_demo():
    assert demo_for("classify")[1].folder == "digits"
    assert demo_for("segment")[1].folder == "seg-shapes"


def test_a_task_without_a_demo_is_refused(monkeypatch):
    class NoDemo(TaskBase):
        name, names = "nodemo", ("nodemo",)

    monkeypatch.setitem(registry._REGISTRY, "nodemo", NoDemo())
    with pytest.raises(VisionfitError, match="has no demo; choose classify, segment"):
        demo_for("nodemo")


def test_the_digits_demo_trains_and_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))
    res = run_demo(str(tmp_path / "runs"), task="classify", epochs=1, progress=False)
    assert res.score.metric == "accuracy" and 0.0 <= res.score.value <= 1.0
    assert res.score.n > 300 and (res.run.run_dir / "demo_test_predictions.csv").is_file()
