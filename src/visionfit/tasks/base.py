"""The Task protocol: everything the engine needs to know about one kind of problem.

The engine (`visionfit.engine`) trains, cross-validates, resumes and predicts for every task with
one mechanism each; where tasks differ, it asks the task. A task object is stateless: what it
learns about a dataset lives in a `TaskData`. A third task is one new package under `tasks/` that
implements this protocol and calls `register_task`; nothing in the engine changes.

Hooks, in the order a run uses them:

- `load_data(cfg, progress)` -> TaskData: read the layouts the task supports into the samples
  table (columns `image`, `split` and the task's own), scan and drop unusable files;
- `resolve_config(cfg, data)`: fill every "auto" so that config.yaml states what ran;
- `stratify_key(df)`: the labels hold-out splits and folds are stratified on;
- `create_model(cfg, data)`; `dataset_targets(data, df)`: what the one dataset class returns next
  to each image (class indices, vectors, or a mask reader);
- `create_module(...)`: the LightningModule (loss, metrics, probabilities);
- `after_training(...)`: post-processing fitted on the validation data (thresholds, min area) and
  the task's extra validation outputs; `bundle_meta(...)`: what model.json records;
- `cv_*`: per-fold out-of-fold records and the CV summary;
- `model_from_meta(meta)`, `probabilities(outputs, meta)`, `predict_table(...)`: prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from visionfit.errors import RunError, VisionfitError


@dataclass
class TaskData:
    """A dataset as one task read it: the samples table and what the task learnt about it."""

    df: pd.DataFrame  # one row per usable sample: image, split ("train"/"val"/""), task columns
    classes: list[str]
    layout: str
    label_mode: str  # binary | multiclass | multilabel | soft | segment
    skipped: pd.DataFrame  # image, reason, ... of files left out by the scan
    notes: list[str] = field(default_factory=list)
    ignored_files: int | None = 0
    sha1: dict[str, str] = field(default_factory=dict)  # image -> SHA-1 of the file's bytes
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific (mask spec, RLE format)

    @property
    def has_split(self) -> bool:
        return bool((self.df["split"] != "").any())


@dataclass
class CheckInput:
    """What `visionfit check` needs from a task: the samples table for the shared scan, the
    task's own section of the report, problems that stop training, and whether every class must
    keep usable images (classification) or not (empty / non-empty masks)."""

    samples: Any  # visionfit.data.sources.Samples
    section: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    classes_required: bool = True


class Task(Protocol):
    """What a task implements (see the module docstring for when each hook runs)."""

    name: str  # registry key, also model.json's "task_family"
    spatial_output: bool  # True: outputs are maps, so test-time flips are undone on them

    def handles(self, cfg_task: str) -> bool: ...

    def load_data(self, cfg, *, progress: bool) -> TaskData: ...

    def check_input(self, cfg) -> CheckInput: ...

    def restore_data(self, run_dir, cfg, *, progress: bool) -> TaskData: ...

    def resolve_config(self, cfg, data: TaskData): ...

    def stratify_key(self, df: pd.DataFrame) -> pd.Series: ...

    def split_columns(self, df: pd.DataFrame) -> list[str]: ...

    def run_name(self, cfg) -> str: ...

    def create_model(self, cfg, data: TaskData): ...

    def dataset_targets(self, cfg, data: TaskData, df: pd.DataFrame): ...

    def create_module(self, cfg, data: TaskData, model, train_df, **kw): ...

    def after_training(self, cfg, data, module, trainer, val_loader, val_df, out_dir, **kw): ...

    def bundle_meta(self, cfg, data: TaskData, created, post: dict) -> dict: ...

    def model_from_meta(self, meta: dict): ...

    def probabilities(self, outputs, meta: dict): ...

    def predict_table(self, predictor, items: list, **kw) -> pd.DataFrame: ...


_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task to the registry; a second task with the same name is refused."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def _ensure_builtin() -> None:
    # Importing the packages registers them; done lazily so that `import visionfit` stays light.
    import visionfit.tasks.classification  # noqa: F401
    import visionfit.tasks.segmentation  # noqa: F401


def list_tasks() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise VisionfitError(f"unknown task {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def task_for_config(cfg) -> Task:
    """The task that handles `cfg.data.task` (auto/binary/... -> classification, segment)."""
    _ensure_builtin()
    for task in _REGISTRY.values():
        if task.handles(cfg.data.task):
            return task
    raise VisionfitError(f"no task handles --task {cfg.data.task!r}")


def task_for_meta(meta: dict, where: str = "model.json") -> Task:
    """The task a bundle or run was trained by (model.json's "task_family", else its "task")."""
    _ensure_builtin()
    family = meta.get("task_family")
    if family:
        if family not in _REGISTRY:
            raise RunError(f"{where} names an unknown task {family!r}")
        return _REGISTRY[family]
    for task in _REGISTRY.values():  # bundles written before task_family existed
        if task.handles(str(meta.get("task", ""))):
            return task
    raise RunError(f"{where} has no task this version knows ({meta.get('task')!r})")


TargetReader = Callable[[int, tuple[int, int]], Any]
