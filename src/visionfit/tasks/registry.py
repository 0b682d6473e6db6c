"""The task registry: the layers above find a run's task here, by config (`--task`), by the
data's layout (`--task auto`) or by bundle.

Each task declares the `--task` names it answers to (`Task.names`); the config holds the name as
a plain string and this module checks it. The built-in tasks are listed at the end, one line
each; `register_task` adds another (a name or `--task` name twice is refused).
"""

from __future__ import annotations

from pathlib import Path

from visionfit.config import check_sections, register_section
from visionfit.errors import RunError, VisionfitError
from visionfit.tasks.base import Task
from visionfit.tasks.classification.task import Classification
from visionfit.tasks.regression.task import Regression
from visionfit.tasks.segmentation.task import Segmentation

_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task to the registry; a second task with the same name is refused."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is already registered")
    taken = sorted(set(task.names) & set(task_names()))
    if taken:
        raise ValueError(f"task {task.name!r}: --task {', '.join(taken)} already names a task")
    if task.config_section is not None:
        register_section(*task.config_section)
    _REGISTRY[task.name] = task
    return task


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    if name not in _REGISTRY:
        raise VisionfitError(f"unknown task {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def task_names() -> list[str]:
    """Every `--task` name some task answers to, in registration order."""
    return [n for task in _REGISTRY.values() for n in task.names]


def task_for_name(name: str) -> Task:
    """The task `--task name` means; a name no task answers to is refused with the choices."""
    for task in _REGISTRY.values():
        if task.handles(name):
            return task
    raise VisionfitError(f"unknown --task {name!r}; choose from {', '.join(task_names())}")


def task_for_config(cfg) -> Task:
    """The task that handles `cfg.data.task`; its label mode (`--label-mode`) checked too."""
    task = task_for_name(cfg.data.task)
    task.label_mode_for(cfg.data.task, cfg.data.label_mode)
    check_sections(cfg)  # every task section known and valid
    return task


def task_claiming(path: str | Path | None) -> Task | None:
    """The task whose layout `path` (DATA) has (`--task auto`), or None: no task claims it."""
    if path is None:
        return None
    claims = [t for t in _REGISTRY.values() if t.claims_layout(Path(path))]
    return claims[0] if claims else None


def resolve_auto_task(cfg):
    """`--task auto` made concrete where a task claims DATA's layout (train and check alike:
    one answer for every command); otherwise `cfg` as it is (auto: classification)."""
    if cfg.data.task != "auto" or cfg.data.csv or cfg.data.label_from_name:
        return cfg
    fmt = getattr(cfg.data, "format", "auto")
    # a task's `formats`: the --format names it reads (optional, like its layouts)
    by_format = [t for t in _REGISTRY.values() if fmt in getattr(t, "formats", ())]
    if by_format:  # `--format coco`: the task that reads it, whatever DATA looks like
        return cfg.with_overrides({"data.task": by_format[0].names[0]})
    claimed = task_claiming(cfg.data.path)
    return cfg if claimed is None else cfg.with_overrides({"data.task": claimed.names[0]})


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


for _builtin in (Classification(), Segmentation(), Regression()):
    register_task(_builtin)
