"""The Task protocol: everything the layers above need to know about one kind of problem.

The engine trains, cross-validates, resumes and predicts for every task with one mechanism
each; where tasks differ, it asks the task. A task object is stateless: what it learns about a
dataset lives in a `TaskData`. A new task is one package under `tasks/` with a class deriving
from `TaskBase` (overriding what differs) and one line in tasks/registry.py; nothing else changes.

The hooks, by phase (`TaskBase` gives a default where most tasks share one):

- config: `config_section` (its own section of the run config: below);
- names: `names` (what `--task` values it answers to), `claims_layout(path)` (a folder or file
  this task recognises when `--task auto`), `label_mode_for(name)`;
- data: `load_data`, `restore_data`, `check_input`, `resolve_config` (fill every "auto", so that
  config.yaml states what ran), `stratify` / `fold_kind` (what splits and folds stratify on),
  `split_columns`, `summary_extra`;
- training: `create_model`, `dataset_targets`, `cache_masks`, `train_sampler`, `create_module`,
  `after_training(AfterTraining)`, `bundle_meta`, `recipes()` / `recipe_family`, `run_name`,
  `default_monitor`, `auto_candidates`;
- evaluation: `evaluate`, `headline`, `score_split(ScoreSplit)`, `cv_accumulator`,
  `align_classes` and `evaluation_files(EvaluationArgs)` (`visionfit evaluate RUN DATA`);
- prediction: `model_from_meta`, `probabilities`, `head`, `predictions(predictor, batch)`
  (the task's typed `Predictions`: CSV rows, JSON, console lines, files), `export_info`;
- the report and card: `report_sections()` (report.html), `card_sections(run)` (MODEL_CARD.md);
- label audit: `audit(AuditArgs)` -> `AuditFindings` (`visionfit audit RUN`, worst first);
- the scikit-learn baseline: `baseline()` -> a `Baseline`, or None;
- the console: `render_summary(result)`, `demo()` (a `Demo`: data, config, held-out score).

A task's own config section: a pydantic model deriving from `visionfit.config.TaskSection`, in
tasks/<task>/config.py (importable without torch; calling `register_section(KEY, Model)` there
lets the CLI declare options for it at start-up), named by `config_section = (KEY, Model)`.
config.yaml holds it as a top-level `KEY:` mapping, `--set KEY.FIELD=` sets it, `cfg.KEY` reads
it (validated), and the run's config.yaml has it resolved. Recipes: `visionfit.config.Recipe`s in
tasks/<task>/recipes.py, returned by `recipes()` (building blocks: config/recipes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from visionfit.config.recipes import Recipe
from visionfit.errors import DataError
from visionfit.tasks.auditing import AuditArgs, AuditFindings  # noqa: F401
from visionfit.tasks.predictions import Predictions, PredictOutputs, ProbBatch  # noqa: F401


@dataclass
class TaskData:
    """A dataset as one task read it: the samples table and what the task learnt about it."""

    df: pd.DataFrame  # one row per usable sample: image, split (train/val/test/""), task columns
    classes: list[str]
    layout: str
    label_mode: str  # the task's own sub-kind (binary | multiclass | ... for classification)
    skipped: pd.DataFrame  # image, reason, ... of files left out by the scan
    notes: list[str] = field(default_factory=list)
    ignored_files: int | None = 0
    sha1: dict[str, str] = field(default_factory=dict)  # image -> SHA-1 of the file's bytes
    phash: dict[str, str] = field(default_factory=dict)  # image -> 64-bit pHash (hex; scan)
    patient: dict[str, str] = field(default_factory=dict)  # image -> DICOM PatientID (scan)
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific (mask spec, RLE format)
    # True: `target` only helps stratify (empty / non-empty masks), folds may fall back to k-fold
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
class AfterTraining:
    """What `after_training` gets: the best model, its trainer and the validation data.

    `post`: post-processing given rather than fitted (a refit reuses the CV's threshold)."""

    cfg: Any  # visionfit.config.RunConfig
    data: TaskData
    module: Any  # the LightningModule, best weights loaded
    trainer: Any  # lightning.Trainer
    val_loader: Any  # None when nothing is held out (a refit)
    val_df: pd.DataFrame | None
    out_dir: Path
    post: dict | None = None
    progress: bool = False


@dataclass
class ScoreSplit:
    """What `score_split` gets: a loaded run's predictor and the rows it scores."""

    cfg: Any  # visionfit.config.RunConfig
    data: TaskData
    predictor: Any  # visionfit.inference.predict.Predictor
    df: pd.DataFrame
    out_dir: Path
    split: str = "test"  # names the files written: <split>_predictions...
    tta: str = "none"
    progress: bool = False


def split_file(split: str, name: str) -> str:
    """A file `score_split` writes: `<split>_<name>`, or `name` itself for an unnamed split
    (`visionfit evaluate` writes predictions.csv into its own folder)."""
    return f"{split}_{name}" if split else name


@dataclass
class EvaluationArgs:
    """What `evaluation_files` gets after `score_split(ScoreSplit(..., split=""))` scored `df`
    into `out_dir` (`visionfit evaluate`): the predictor, the data, the scores it returned."""

    predictor: Any  # visionfit.inference.predict.Predictor (or the baseline's)
    data: TaskData
    df: pd.DataFrame
    out_dir: Path
    scores: dict
    grid_size: int = 24  # images in predictions.png


@dataclass
class EvaluationFiles:
    """What a task added to an evaluation folder: figures and tables for report.html."""

    figures: list[tuple[str, Path]] = field(default_factory=list)  # (title, PNG)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (title, table)
    files: list[Path] = field(default_factory=list)  # every file written (CSV and PNG)
    notes: list[str] = field(default_factory=list)  # e.g. a plot that could not be drawn

    def add_plots(self, ctx, plots) -> None:
        """Draw each (title, plot function) of the run report with `ctx` (a ReportContext) into
        the evaluation folder; a plot that cannot be drawn becomes a note."""
        for title, fn in plots:
            _, path = ctx.plot(fn, title)
            if path is not None:
                self.figures.append((title, path))
                self.files.append(path)
        self.notes.extend(ctx.notes)


@dataclass
class CheckInput:
    """What `visionfit check` needs from a task: the samples table for the shared scan, the
    task's own section of the report, problems that stop training, and whether every class must
    keep usable images (classification) or not (empty / non-empty masks)."""

    samples: Any  # visionfit.data.sources.Samples
    section: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    classes_required: bool = True
    # the usable rows -> notes, or a DataError for a train/val split `train` would refuse (the
    # same test train makes: Task.check_split); None: nothing to check
    split_check: Any = None


@dataclass
class BaselineFit:
    """The scikit-learn baseline's targets: what is scored, what the estimator fits, and the
    number of output columns its predictions have."""

    targets: np.ndarray
    y_fit: np.ndarray
    n_outputs: int


@dataclass(frozen=True)
class DemoScore:
    """A demo's held-out score, as `visionfit demo` prints it."""

    metric: str  # e.g. "accuracy", "dice"
    value: float
    n: int  # held-out images scored
    where: str = ""  # what else the demo wrote, e.g. "predicted masks in RUN/demo_test_masks"


@dataclass(frozen=True)
class Demo:
    """A task's `visionfit demo --task NAME`: generated data, a small run, a held-out score.

    cli/demo.py runs every demo alike: `write(root)` once into the cache folder `folder`, then
    `visionfit.fit` on `config(train, runs_dir, epochs)` (a RunConfig mapping), then
    `score(predictor, held_out, run_dir)` with the run's loaded bundle. The task writes no run
    itself (tasks sit below the engine)."""

    folder: str  # under the visionfit cache folder
    write: Callable[[Path], tuple[Path, Path]]  # root -> (training data, held-out data)
    config: Callable[[Path, str, int], dict]  # (training data, runs_dir, epochs) -> config
    score: Callable[[Any, Path, Path], DemoScore]  # (predictor, held-out data, run_dir)


class Baseline(Protocol):
    """A task's part of the scikit-learn baseline (engine/baseline.py runs folds, features, run
    directory and summary; the task picks the estimator, its targets, outputs and scores)."""

    models: tuple[str, ...]  # the `--model` names it knows

    def resolve(self, cfg, data: TaskData): ...  # the BaselineConfig with its "auto" filled
    def targets(self, data: TaskData, df: pd.DataFrame) -> BaselineFit: ...
    def estimator(self, cfg, data: TaskData, y_train: np.ndarray, n_samples: int): ...
    def proba(self, pipeline, x: np.ndarray, meta: dict) -> np.ndarray: ...  # (N, n_outputs)
    def score(self, run_dir: Path, cfg, data: TaskData, df, fit: BaselineFit, oof, fold): ...
    def meta(self, cfg, scores) -> dict: ...  # what model.json adds for prediction


class Task(Protocol):
    """What a task implements (see the module docstring for the phases)."""

    name: str  # registry key, also model.json's "task_family"
    names: tuple[str, ...]  # the `--task` values it answers to (the first is its own)
    spatial_output: bool  # True: outputs are maps, so test-time flips are undone on them

    # names and layouts
    def handles(self, cfg_task: str) -> bool: ...
    def claims_layout(self, path: Path) -> bool: ...
    def label_mode_for(self, cfg_task: str, cfg_label_mode: str) -> str: ...

    # data
    def load_data(self, cfg, *, progress: bool) -> TaskData: ...
    def restore_data(self, run_dir, cfg, table: pd.DataFrame, classes) -> TaskData: ...
    def check_input(self, cfg) -> CheckInput: ...
    def resolve_config(self, cfg, data: TaskData): ...
    def default_monitor(self, data: TaskData) -> tuple[str, str]: ...  # (metric, min|max)
    def stratify(self, data: TaskData) -> str: ...  # "target" or "multilabel"
    def fold_kind(self, kind: str, data: TaskData, has_groups: bool) -> str: ...
    def split_columns(self, df: pd.DataFrame) -> list[str]: ...
    def check_split(self, data: TaskData, df: pd.DataFrame, given: bool) -> list[str]: ...
    def summary_extra(self, data: TaskData, df: pd.DataFrame) -> dict: ...
    # the headline score of validation rows from their probabilities (None: not scored so)
    def rescore(self, data: TaskData, df: pd.DataFrame, probs, post: dict) -> float | None: ...
    def auto_candidates(self, cfg, data: TaskData, native: int, offline: list[str]) -> list: ...

    config_section: tuple[str, type] | None  # (top-level key, TaskSection model) or None

    def recipes(self) -> list[Recipe]: ...  # its families' tables (tasks/<task>/recipes.py)
    def recipe_family(self, cfg) -> str: ...
    def run_name(self, cfg) -> str: ...

    # training
    def create_model(self, cfg, data: TaskData): ...  # a models.factory.CreatedModel
    def dataset_targets(self, cfg, data: TaskData, df: pd.DataFrame): ...
    def cache_masks(self, cfg, data: TaskData): ...  # (mask reader, keys) or (None, None)
    def train_sampler(self, cfg, data: TaskData, train_df: pd.DataFrame): ...  # or None
    def create_module(self, cfg, data, model, train_df, *, steps_per_epoch, param_groups): ...
    def after_training(self, args: AfterTraining) -> Fitted: ...
    def bundle_meta(self, cfg, data: TaskData, created, post: dict) -> dict: ...

    # evaluation
    def evaluate(self, cfg, data, predictor, val_df, out_dir, *, progress=False) -> dict: ...
    def interval_scorer(self, data: TaskData, df: pd.DataFrame, run_dir: Path, of: str):
        """The headline score over the rows of `df` scored in `run_dir` (`of`: "val", "oof" or
        "test": the files that step wrote), as a tasks.intervals.Scorer; None: none to bootstrap."""

    def headline(self, data: TaskData, best_metrics: dict, val_final: dict) -> tuple[str, float]:
        """(metric name, validation value) a leaderboard ranks runs by (higher is better)."""
        ...

    def score_split(self, args: ScoreSplit) -> dict:
        """The loaded run's predictions of `args.df`, scored: metric, score, scores."""
        ...

    def cv_accumulator(self, cfg, data: TaskData, df: pd.DataFrame): ...  # add(), finish()
    def align_classes(self, data: TaskData, classes: list[str], label_mode: str) -> TaskData:
        """Labelled data read afresh, its labels put in a finished run's class order (unknown
        labels: a DataError naming them)."""
        ...

    def evaluation_files(self, args: EvaluationArgs) -> EvaluationFiles: ...

    # prediction
    def model_from_meta(self, meta: dict): ...  # the network, weights not loaded
    def probabilities(self, model, x, meta: dict): ...  # forward + probabilities
    def head(self, meta: dict): ...  # post-processing state kept on the Predictor, or None

    prediction_type: type[Predictions]  # what `predictions` returns (empty/concat/prepare)

    def predictions(self, predictor, batch: ProbBatch) -> Predictions: ...  # one batch, typed
    def export_info(self, meta: dict) -> dict: ...  # export.json: output shape, how to read it
    def export_agreement(self, meta: dict, ref, got) -> tuple[str, float]: ...  # export check
    def report_sections(self) -> list: ...  # visionfit.plots.sections.SectionSpec
    def card_sections(self, run) -> list[tuple[str, str]]: ...  # MODEL_CARD.md: title, markdown
    def audit(self, args: AuditArgs) -> AuditFindings: ...  # `visionfit audit RUN`

    # the scikit-learn baseline, the console
    def baseline(self) -> Baseline | None: ...
    def render_summary(self, result) -> list: ...  # Rich renderables / lines after `train`
    def render_check_section(self, section: dict) -> list: ...  # its part of `check`'s output
    def check_verdict(self, report) -> str: ...  # `check`'s last line: what is usable
    def demo(self) -> Demo | None: ...  # `visionfit demo --task NAME`, or None: no demo


class TaskBase:
    """Defaults most tasks share; a task overrides what differs (see `Task` for the hooks)."""

    name: str = ""
    names: tuple[str, ...] = ()
    spatial_output: bool = False
    config_section: tuple[str, type] | None = None
    hub_pipeline_tag: str | None = None  # MODEL_CARD.md's pipeline_tag (Hugging Face's names)

    # ---- names and layouts -------------------------------------------------------------------

    def handles(self, cfg_task: str) -> bool:
        return cfg_task in self.names

    def claims_layout(self, path: Path) -> bool:
        """True when `path` (DATA) is laid out for this task alone (`--task auto` picks it)."""
        return False

    def label_mode_for(self, cfg_task: str, cfg_label_mode: str) -> str:
        """The label mode a `--task` name and `--label-mode` state together ("auto": the data
        decides). Tasks without label modes answer "auto"."""
        return "auto"

    # ---- data ----------------------------------------------------------------------------------

    def stratify(self, data: TaskData) -> str:
        return "target"

    def fold_kind(self, kind: str, data: TaskData, has_groups: bool) -> str:
        """The concrete `--cv` kind for "auto", and a clear error for one the data cannot have."""
        if kind == "auto":
            return "group" if has_groups else "stratified"
        if kind == "group" and not has_groups:
            raise DataError("--cv group needs a group column: add --group-col COLUMN (with --csv)")
        if kind == "multilabel":
            raise DataError(
                f"--cv multilabel is for multi-label data; this is {data.label_mode}: "
                "use --cv stratified"
            )
        return kind

    def split_columns(self, df: pd.DataFrame) -> list[str]:
        return ["image", "label", "split"] + (["group"] if "group" in df.columns else [])

    def check_split(self, data: TaskData, df: pd.DataFrame, given: bool) -> list[str]:
        """Refuse (DataError) a train/val split the task cannot train or score on, or return
        notes about it; `given`: the data gave its validation split (folders, a CSV column)."""
        return []

    def summary_extra(self, data: TaskData, df: pd.DataFrame) -> dict:
        return {}

    def rescore(self, data: TaskData, df: pd.DataFrame, probs, post: dict) -> float | None:
        """The headline score of the rows `df` from their probabilities `probs` (engine/
        leakage.py scores validation images again without the leaked ones); None where a task
        has no such score."""
        return None

    def default_monitor(self, data: TaskData) -> tuple[str, str]:
        return ("val_loss", "min")

    def auto_candidates(self, cfg, data: TaskData, native: int, offline: list[str]) -> list:
        return []

    def recipes(self) -> list[Recipe]:
        return []

    def recipe_family(self, cfg) -> str:
        return self.name

    # ---- training --------------------------------------------------------------------------------

    def cache_masks(self, cfg, data: TaskData):
        return None, None  # images only

    def train_sampler(self, cfg, data: TaskData, train_df: pd.DataFrame):
        return None

    def after_training(self, args: AfterTraining) -> Fitted:
        return Fitted(post=dict(args.post or {}))

    def interval_scorer(self, data: TaskData, df: pd.DataFrame, run_dir: Path, of: str):
        return None  # a task without per-image predictions on disk has no interval

    # ---- evaluation ------------------------------------------------------------------------------

    def evaluate(self, cfg, data, predictor, val_df, out_dir, *, progress=False) -> dict:
        return {}  # the epoch metrics say it all

    def align_classes(self, data: TaskData, classes: list[str], label_mode: str) -> TaskData:
        return data  # the run's own config read the data: nothing to re-map

    def evaluation_files(self, args: EvaluationArgs) -> EvaluationFiles:
        return EvaluationFiles()

    # ---- prediction ------------------------------------------------------------------------------

    def head(self, meta: dict):
        return None

    def export_info(self, meta: dict) -> dict:
        """export.json's description of the graph's output: `output_shape` and `output_kind`
        (popped into output.shape / output.kind by inference/export.py; the kind defaults to
        "probabilities"), `postprocess` and the task's own keys."""
        return {}

    def export_agreement(self, meta: dict, ref, got) -> tuple[str, float]:
        """How far an exported graph's outputs `got` agree with PyTorch's `ref` on the same
        real images (numpy, the probabilities `Predictor.predict_proba` gives): what is
        counted and the share that agrees (0..1). Default: the same argmax over axis 1."""
        import numpy as np

        return "top-1", float(np.mean(np.argmax(ref, axis=1) == np.argmax(got, axis=1)))

    def report_sections(self) -> list:
        """The task's own sections of report.html (visionfit.plots.sections.SectionSpec)."""
        return []

    def card_sections(self, run) -> list[tuple[str, str]]:
        return []

    def audit(self, args: AuditArgs) -> AuditFindings:
        """Likely label errors of a finished run (`visionfit audit`); DataError: not for this
        task."""
        raise DataError(f"visionfit audit does not apply to {self.name} runs")

    # ---- the baseline, the console ------------------------------------------------------------

    def baseline(self) -> Baseline | None:
        return None

    def render_summary(self, result) -> list:
        return []

    def render_check_section(self, section: dict) -> list:  # Rich: its part of `check`
        return []

    def check_verdict(self, report) -> str:
        """`visionfit check`'s last line: the usable data ("40 images in 2 classes")."""
        n = sum(1 for count in report.classes.values() if count)
        return f"{report.counts['usable']} images in {n} class{'' if n == 1 else 'es'}"

    def demo(self) -> Demo | None:
        return None


TargetReader = Callable[[int, tuple[int, int]], Any]
