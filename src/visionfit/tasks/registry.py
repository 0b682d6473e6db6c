"""The task registry: the engine finds a run's task here, by config (`--task`) or by bundle.

The built-in tasks are listed below; `register_task` adds another (a name twice is refused).
"""

from __future__ import annotations

from visionfit.errors import RunError, VisionfitError
from visionfit.tasks.base import Task
from visionfit.tasks.classification.task import Classification
from visionfit.tasks.segmentation.task import Segmentation

_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task to the registry; a second task with the same name is refused."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    if name not in _REGISTRY:
        raise VisionfitError(f"unknown task {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def task_for_config(cfg) -> Task:
    """The task that handles `cfg.data.task` (auto/binary/... -> classification, segment)."""
    for task in _REGISTRY.values():
        if task.handles(cfg.data.task):
            return task
    raise VisionfitError(f"no task handles --task {cfg.data.task!r}")


def task_for_meta(meta: dict, where: str = "model.json") -> Task:
    """The task a bundle or run was trained by (model.json's "task_family", else its "task")."""
    family = meta.get("task_family")
    if family:
        if family not in _REGISTRY:
            raise RunError(f"{where} names an unknown task {family!r}")
        return _REGISTRY[family]
    for task in _REGISTRY.values():  # bundles written before task_family existed
        if task.handles(str(meta.get("task", ""))):
            return task
    raise RunError(f"{where} has no task this version knows ({meta.get('task')!r})")


for _builtin in (Classification(), Segmentation()):
    register_task(_builtin)
