"""The Task protocol: everything the engine needs to know about one kind of problem.

The engine (`visionfit.engine`) trains, cross-validates, resumes and predicts for every task with
one mechanism each; where tasks differ, it asks the task. A task object is stateless: what it
learns about a dataset lives in a `TaskData`. A third task is one new package under `tasks/` that
implements this protocol and is listed in tasks/registry.py; nothing in the engine changes.

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
- `headline(...)`: the validation score runs are ranked by; `score_split(...)`: the finished
  run's predictions of the test split, scored once;
- `cv_*`: per-fold out-of-fold records and the CV summary;
- `model_from_meta(meta)`, `probabilities(outputs, meta)`, `predictions(predictor, batch)`:
  prediction, as the task's typed `Predictions` object (CSV rows, JSON, console lines, files);
- `export_info(meta)`: what export.json says about the exported graph's output;
- `report_sections()`: the task's own sections of report.html.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd


@dataclass
class TaskData:
    """A dataset as one task read it: the samples table and what the task learnt about it."""

    df: pd.DataFrame  # one row per usable sample: image, split (train/val/test/""), task columns
    classes: list[str]
    layout: str
    label_mode: str  # binary | multiclass | multilabel | soft | segment
    skipped: pd.DataFrame  # image, reason, ... of files left out by the scan
    notes: list[str] = field(default_factory=list)
    ignored_files: int | None = 0
    sha1: dict[str, str] = field(default_factory=dict)  # image -> SHA-1 of the file's bytes
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific (mask spec, RLE format)
    # True when `target` is only a convenience to stratify on (empty / non-empty masks): folds
    # fall back to plain k-fold instead of refusing a stratum smaller than the fold count.
    strata_optional: bool = False

    @property
    def has_split(self) -> bool:
        return bool((self.df["split"] != "").any())


@dataclass
class Fitted:
    """What a task fitted on the validation data after training."""

    post: dict = field(default_factory=dict)
    val_probs: np.ndarray | None = None
    extra_metrics: dict = field(default_factory=dict)


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
    baseline_supported: bool  # the scikit-learn baseline handles this task

    # reading data
    def handles(self, cfg_task: str) -> bool: ...  # this task trains `--task cfg_task`
    def load_data(self, cfg, *, progress: bool) -> TaskData: ...
    def restore_data(self, run_dir, cfg, table: pd.DataFrame, classes) -> TaskData: ...
    def check_input(self, cfg) -> CheckInput: ...
    def resolve_config(self, cfg, data: TaskData): ...  # the task's own "auto" values
    def default_monitor(self, data: TaskData) -> tuple[str, str]: ...  # (metric, min|max)
    def stratify(self, data: TaskData) -> str: ...  # "target" or "multilabel"
    def split_columns(self, df: pd.DataFrame) -> list[str]: ...  # of splits.csv
    def auto_candidates(self, cfg, data: TaskData, native: int, offline: list[str]) -> list:
        """Networks for `visionfit auto` to time: dicts of name, config overrides, quality and
        epochs_scale (see automl/auto_plan.py); `native`: the images' typical side."""
        ...

    def recipe_family(self, cfg) -> str:
        """Which recipes (engine/recipes.py) fit this run's network: scratch, pretrained, ..."""
        ...

    def run_name(self, cfg) -> str: ...

    # training
    def create_model(self, cfg, data: TaskData): ...  # a models.factory.CreatedModel
    def dataset_targets(self, cfg, data: TaskData, df: pd.DataFrame): ...
    def cache_masks(self, cfg, data: TaskData): ...  # (mask reader, keys) or (None, None)
    def train_sampler(self, cfg, data: TaskData, train_df: pd.DataFrame): ...  # or None
    def create_module(self, cfg, data, model, train_df, *, steps_per_epoch, param_groups): ...
    def after_training(
        self, cfg, data, module, trainer, val_loader, val_df, out_dir, **kw
    ) -> Fitted: ...
    def bundle_meta(self, cfg, data: TaskData, created, post: dict) -> dict: ...
    def evaluate(self, cfg, data, predictor, val_df, out_dir, *, progress=False) -> dict: ...
    def summary_extra(self, data: TaskData, df: pd.DataFrame) -> dict: ...
    def cv_accumulator(self, cfg, data: TaskData, df: pd.DataFrame): ...  # add(), finish()

    def headline(self, data: TaskData, best_metrics: dict, val_final: dict) -> tuple[str, float]:
        """(metric name, validation value) a leaderboard ranks runs by (higher is better)."""
        ...

    def score_split(self, cfg, data, predictor, df, out_dir, **kw) -> dict:
        """The loaded run's predictions of `df` (the test split; an ensemble's validation
        split), scored: metric, score, scores."""
        ...

    # prediction
    def model_from_meta(self, meta: dict): ...  # the network, weights not loaded
    def probabilities(self, model, x, meta: dict): ...  # forward + probabilities
    def head(self, meta: dict): ...  # post-processing state kept on the Predictor, or None

    # ---- outputs: predictions, export, report (see the "Outputs" block below) ----
    prediction_type: type[Predictions]  # what `predictions` returns (its empty/concat/prepare)

    def predictions(self, predictor, batch: ProbBatch) -> Predictions:
        """One batch of probabilities turned into the task's typed predictions."""
        ...

    def export_info(self, meta: dict) -> dict:
        """export.json's description of the graph's output: `output_shape` (popped into
        output.shape by inference/export.py), `postprocess` and the task's own keys."""
        ...

    def report_sections(self) -> list:
        """The task's sections of report.html (visionfit.plots.sections.SectionSpec)."""
        ...


TargetReader = Callable[[int, tuple[int, int]], Any]


# ==== Outputs: typed predictions (a separate block: the prediction side of issue 16) ===========


@dataclass
class PredictOutputs:
    """Where predictions go besides the returned object: the CSV `visionfit predict` writes and
    the files a task may add. A task refuses (in `Predictions.prepare`) what it cannot write."""

    out: Path | None = None  # the CSV (None from the Python API)
    masks_dir: Path | None = None  # segmentation: one mask PNG per image
    overlays_dir: Path | None = None  # segmentation: the image with its mask drawn over it
    truth: Path | None = None  # true targets to score the predictions against

    @property
    def scores_csv(self) -> Path | None:
        """Per-input scores against `truth`, next to the CSV."""
        if self.out is None or self.truth is None:
            return None
        return self.out.with_name(self.out.stem + "_scores.csv")


@dataclass
class ProbBatch:
    """One batch from the Predictor: its inputs (from position `start` of the whole input list),
    probabilities (N, ...), why each input could not be read ("" if fine), and each input's
    original (height, width) (None where a predictor does not know it)."""

    items: Sequence
    start: int
    probs: Any  # torch.Tensor or np.ndarray; rows of unreadable inputs are meaningless
    errors: list[str]
    sizes: list[tuple[int, int]] | None = None


class Predictions:
    """A task's predictions for a list of inputs, rendering itself for every consumer:
    `to_frame()` / `rows()` (the CSV `visionfit predict` writes), `to_json(i)` (what the
    server's /predict answers for input i; its `view` tells the page what to draw),
    `console_lines(outputs)` (the CLI's summary), `write_files(outputs)` (the task's own
    files), `score(truth)` (scores against true targets, where the task supports it).

    Predictors stream: they make one object per batch and `concat` them; `light()` drops what
    a long prediction must not keep in memory (e.g. full-size masks) once files are written."""

    view: ClassVar[str] = "table"  # what a client draws: "classes", "mask", ...
    batch_size: ClassVar[int] = 64  # the default batch of `Predictor.predictions`
    score_note: ClassVar[str] = ""  # how `score` defines its numbers (printed under them)

    items: list
    errors: list[str]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_failed(self) -> int:
        return sum(1 for e in self.errors if e)

    @classmethod
    def prepare(cls, outputs: PredictOutputs, items: Sequence, where: str) -> PredictOutputs:
        """Check the output options before predicting (refuse what this task cannot write,
        refuse to overwrite) and resolve their defaults; `where` names the run in messages."""
        from visionfit.errors import VisionfitError

        extra = [
            flag
            for flag, value in (
                ("--masks-dir", outputs.masks_dir),
                ("--overlays-dir", outputs.overlays_dir),
                ("--truth", outputs.truth),
            )
            if value is not None
        ]
        if extra:
            raise VisionfitError(
                f"{', '.join(extra)}: {where} predicts {cls.view}, it does not write or score "
                "these (they are for segmentation runs)"
            )
        return outputs

    @classmethod
    def concat(cls, parts: Sequence[Predictions]) -> Predictions:
        raise NotImplementedError

    def light(self) -> Predictions:
        return self

    def write_files(self, outputs: PredictOutputs) -> None:
        """The task's files of this batch (nothing by default: the CSV is the caller's)."""

    def to_frame(self) -> pd.DataFrame:
        raise NotImplementedError

    def rows(self) -> list[dict]:
        return self.to_frame().to_dict("records")

    def to_json(self, i: int) -> dict:
        raise NotImplementedError

    def console_lines(self, outputs: PredictOutputs) -> list[str]:
        return [f"wrote {len(self)} predictions to {outputs.out}"]

    def score(self, truth: Path) -> tuple[dict[str, float], pd.DataFrame]:
        from visionfit.errors import VisionfitError

        raise VisionfitError(f"scoring against {truth} is not supported for {self.view}")
