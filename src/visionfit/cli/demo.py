"""`visionfit demo --task NAME`: the task's own demo (tasks/<task>/demo.py, `Task.demo()`),
run the same way for every task: its data generated once into the visionfit cache folder, a
small run trained on it, the run's bundle scored on the held-out part."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from visionfit.config import RunConfig
from visionfit.engine.fit import RunResult, fit
from visionfit.errors import VisionfitError
from visionfit.inference.backends import load
from visionfit.tasks.base import Demo, DemoScore, Task
from visionfit.tasks.registry import get_task, list_tasks, task_for_name


def cache_dir() -> Path:
    """$VISIONFIT_CACHE, else ~/.cache/visionfit."""
    env = os.environ.get("VISIONFIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "visionfit"


@dataclass
class DemoResult:
    task: Task
    run: RunResult
    score: DemoScore
    data_dir: Path


def demo_for(task_name: str) -> tuple[Task, Demo]:
    """The task `--task task_name` means and its demo; a task without one is refused."""
    task = task_for_name(task_name)
    demo = task.demo()
    if demo is None:
        with_demo = [get_task(n).names[0] for n in list_tasks() if get_task(n).demo()]
        raise VisionfitError(
            f"--task {task_name}: the {task.name} task has no demo; choose {', '.join(with_demo)}"
        )
    return task, demo


def run_demo(
    runs_dir: str = "runs", *, task: str = "classify", epochs: int = 15, progress: bool = True
) -> DemoResult:
    """Write the task's demo data (reused when complete), train on it, score the held-out part."""
    task_obj, demo = demo_for(task)
    root = cache_dir() / demo.folder
    train, held_out = demo.write(root)
    cfg = RunConfig.from_dict(demo.config(train, runs_dir, epochs), origin=f"the {task} demo")
    result = fit(cfg, progress=progress)
    score = demo.score(load(result.run_dir), held_out, result.run_dir)
    return DemoResult(task=task_obj, run=result, score=score, data_dir=root)
