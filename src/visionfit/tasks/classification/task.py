"""Classification as a Task: binary, multi-class, multi-label and soft labels.

Reads class folders, train/val folders and CSVs (data/sources.py), stratifies on the class (or
every label, for multi-label data), trains `ClassifierModule`, fits the decision threshold
(binary / multi-label) on the validation or out-of-fold probabilities, and writes predictions as a
table of classes and probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from visionfit.config import RunConfig
from visionfit.errors import DataError, RunError
from visionfit.tasks.base import (
    AfterTraining,
    CheckInput,
    Fitted,
    ScoreSplit,
    TaskBase,
    TaskData,
    split_file,
)
from visionfit.tasks.classification.labels import label_column_reader, resolve_label_mode
from visionfit.tasks.classification.targets import (
    default_threshold,
    drawn_split_problems,
    split_class_problems,
    split_targets,
)

LABEL_MODES = ("binary", "multiclass", "multilabel", "soft")


def _load_samples(data_cfg, *, empty_labels: str):
    """data/sources.py's samples for train and check alike: missing files skipped (listed),
    run and cache folders inside the data never read (runs/kind.py says which)."""
    from visionfit.data.sources import load_samples
    from visionfit.runs.kind import is_visionfit_dir

    return load_samples(
        data_cfg,
        missing_files="skip",
        empty_labels=empty_labels,
        label_columns=label_column_reader(data_cfg.task),
        skip_dir=is_visionfit_dir,
        report_conflicts=empty_labels == "skip",  # check: reported, not raised
    )


class Classification(TaskBase):
    name = "classification"
    # "auto": classification unless another task claims the data's layout (tasks/registry.py)
    names = ("classify", "auto", *LABEL_MODES)
    spatial_output = False
    hub_pipeline_tag = "image-classification"

    def label_mode_for(self, cfg_task: str, cfg_label_mode: str) -> str:
        """`--label-mode` when given, else a label mode spelt as `--task` (the older spelling),
        else "auto" (the data decides: resolve_label_mode)."""
        if cfg_label_mode not in ("auto", *LABEL_MODES):
            raise DataError(
                f"unknown --label-mode {cfg_label_mode!r}; "
                f"choose from auto, {', '.join(LABEL_MODES)}"
            )
        if cfg_label_mode != "auto":
            return cfg_label_mode
        return cfg_task if cfg_task in LABEL_MODES else "auto"

    # ---- data ---------------------------------------------------------------------------------

    def load_data(self, cfg: RunConfig, *, progress: bool) -> TaskData:
        from visionfit.data.check import drop_unusable
        from visionfit.models.factory import check_model_name

        # CSV rows whose file is missing are skipped like unreadable files (listed in
        # skipped.csv); a CSV whose files are all missing, or an empty label, still raises.
        data_cfg = self._data_config(cfg)
        samples = _load_samples(data_cfg, empty_labels="error")
        label_mode = resolve_label_mode(samples, data_cfg.task)
        check_model_name(cfg.model.name)  # before the scan: a typo fails at once
        usable = drop_unusable(samples, cfg.data, progress=progress)
        s = usable.samples
        return TaskData(
            df=s.df,
            classes=s.classes,
            layout=s.layout,
            label_mode=label_mode,
            skipped=usable.skipped,
            notes=list(s.notes),
            ignored_files=s.ignored_files,
            sha1={f.image: f.sha1 for f in usable.scan.files if f.ok},
            phash={f.image: f.phash for f in usable.scan.files if f.ok},
            patient=usable.scan.patients(),
        )

    def check_input(self, cfg: RunConfig):
        """The samples table `visionfit check` scans; no section of its own, no extra problems."""
        data_cfg = self._data_config(cfg)
        samples = _load_samples(data_cfg, empty_labels="skip")

        def split_check(usable: pd.DataFrame) -> list[str]:
            if resolve_label_mode(samples, data_cfg.task) not in ("binary", "multiclass"):
                return []
            return drawn_split_problems(usable, samples.classes, cfg.data, cfg.train.seed)

        return CheckInput(samples, split_check=split_check)

    def _data_config(self, cfg: RunConfig):
        """`cfg.data` with the label mode asked for in `task`, where the CSV label reader
        (data/labels.py) looks for it."""
        return cfg.data.model_copy(
            update={"task": self.label_mode_for(cfg.data.task, cfg.data.label_mode)}
        )

    def check_split(self, data: TaskData, df: pd.DataFrame, given: bool) -> list[str]:
        """Every class needs training images; a class without validation images is an error
        for a drawn split (add images, or give the split), a note for a split the data gives
        (its per-class validation scores are undefined: n/a)."""
        if data.label_mode not in ("binary", "multiclass"):
            return []
        return split_class_problems(df, data.classes, given)

    def restore_data(self, run_dir: Path, cfg: RunConfig, table: pd.DataFrame, classes):
        """The run's train/val table (`table`: its splits.csv) as it recorded it."""
        unknown = sorted(set(table["label"]) - set(classes))
        if unknown:
            raise RunError(
                f"{run_dir / 'splits.csv'} has labels not in classes.json: {unknown[:5]}"
            )
        df = table.copy()
        df["target"] = df["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
        return TaskData(
            df=df,
            classes=list(classes),
            layout="run",
            label_mode=self.label_mode_for(cfg.data.task, cfg.data.label_mode),
            skipped=_read_skipped(run_dir),
            ignored_files=None,  # files ignored by extension: not recorded by the run
        )

    def resolve_config(self, cfg: RunConfig, data: TaskData) -> RunConfig:
        """Fill the "auto" fields so that config.yaml states exactly what ran."""
        from visionfit.tasks.classification.scoring import check_threshold_option

        label_mode = data.label_mode
        threshold = check_threshold_option(cfg.train.threshold)
        if label_mode == "multilabel" and cfg.train.sampler == "balanced":
            raise DataError(
                "--sampler balanced needs one class per image; for multi-label data use "
                "--class-weights auto (pos_weight per label) instead"
            )
        if threshold == "auto":
            threshold = default_threshold(label_mode)
        overrides = {
            "data.task": label_mode,
            "data.label_mode": label_mode,
            "train.threshold": threshold,
        }
        if label_mode != "multiclass" and (cfg.train.mixup or cfg.train.cutmix):
            overrides.update({"train.mixup": 0.0, "train.cutmix": 0.0})
            data.notes.append("mixup/cutmix are for multi-class data: turned off")
        if label_mode in ("binary", "multilabel") and cfg.train.label_smoothing:
            overrides["train.label_smoothing"] = 0.0  # BCE has none
        return cfg.with_overrides(overrides)

    def auto_candidates(self, cfg: RunConfig, data: TaskData, native: int, offline: list[str]):
        """Networks `visionfit auto` times (automl/auto_plan.py): the small CNN at the images'
        own size (larger too, for larger data), and ImageNet-pretrained networks whose weights
        are on this machine, at 64 px or more (what their first layers were trained at)."""
        small = _multiple_of_4(min(max(native, 16), 64))  # 28 px stays 28 (three 2x pools)
        nets = [
            _candidate("simple_cnn", small, False, 1.0, 8.0),
            _candidate("resnet9_16", small, False, 1.04, 8.0),
        ]
        if len(data.df) >= 2000:  # wider: worth its 3x cost when there is data to fit
            nets.append(_candidate("resnet9_32", small, False, 1.06, 12.0))
        if native >= 64 and len(data.df) >= 2000:
            nets.append(
                _candidate("simple_cnn", _multiple_of_8(min(native, 96)), False, 1.03, 10.0)
            )
        size = _multiple_of_8(min(max(native, 64), 128))
        # ImageNet features help less the further the images are from ImageNet's: tiny
        # (grayscale) images are upscaled 2x or more to reach the 64 px they need
        quality = 1.12 if native >= 48 else 1.02
        for family in ("efficientnet_lite0", "resnet18"):
            name = next((m for m in offline if m.split(".")[0] == family), None)
            if name:
                nets.append(_candidate(name, size, True, quality, 3.0))
        return nets

    def recipes(self):
        from visionfit.tasks.classification.recipes import RECIPES

        return RECIPES

    def recipe_family(self, cfg: RunConfig) -> str:
        """Recipes differ for from-scratch and pretrained networks (engine/recipes.py)."""
        return "pretrained" if cfg.model.pretrained or cfg.model.weights else "scratch"

    def default_monitor(self, data: TaskData) -> tuple[str, str]:
        """Validation loss: a proper score with no ties, unlike accuracy or AUC on a small set."""
        return ("val_loss", "min")

    def stratify(self, data: TaskData) -> str:
        """Hold-out splits keep the class ratios; multi-label ones every label's (`targets`)."""
        return "targets" if data.label_mode == "multilabel" else "target"

    def fold_kind(self, kind: str, data: TaskData, has_groups: bool) -> str:
        """Multi-label data: MultilabelStratifiedKFold for "auto" (without groups); a kind
        that needs one class per image is refused."""
        if data.label_mode != "multilabel":
            return super().fold_kind(kind, data, has_groups)
        if kind == "stratified":
            raise DataError("--cv stratified needs one class per image: use --cv multilabel")
        if kind == "multilabel" or (kind == "auto" and not has_groups):
            return "multilabel"
        return super().fold_kind(kind, data, has_groups)

    def run_name(self, cfg: RunConfig) -> str:
        return cfg.model.name

    # ---- model and training ----------------------------------------------------------------

    def create_model(self, cfg: RunConfig, data: TaskData):
        from visionfit.models.factory import create_classifier_for

        return create_classifier_for(cfg, num_outputs(data.label_mode, len(data.classes)))

    def dataset_targets(self, cfg: RunConfig, data: TaskData, df: pd.DataFrame):
        return split_targets(df, data.label_mode)

    def train_sampler(self, cfg: RunConfig, data: TaskData, train_df: pd.DataFrame):
        if cfg.train.sampler != "balanced":
            return None
        from visionfit.tasks.classification.imbalance import balanced_sampler

        return balanced_sampler(
            data.label_mode, split_targets(train_df, data.label_mode), cfg.train.seed
        )

    def create_module(self, cfg, data, model, train_df, *, steps_per_epoch, param_groups):
        from visionfit.tasks.classification.imbalance import loss_weight
        from visionfit.tasks.classification.module import ClassifierModule

        mode, tc = data.label_mode, cfg.train
        weight = loss_weight(
            mode, split_targets(train_df, mode), len(data.classes), tc.class_weights
        )
        return ClassifierModule(
            model,
            mode,
            len(data.classes),
            tc,
            loss_weight=weight,
            steps_per_epoch=steps_per_epoch,
            param_groups=param_groups,
        )

    def after_training(self, args: AfterTraining) -> Fitted:
        """Calibration, then the decision threshold, on the best model's validation
        probabilities (tasks/classification/fitted.py)."""
        from visionfit.tasks.classification.fitted import fit_postprocessing

        return fit_postprocessing(args)

    def bundle_meta(self, cfg: RunConfig, data: TaskData, created, post: dict) -> dict:
        threshold = post.get("threshold")
        from visionfit.models.factory import classifier_meta

        return {
            "task": data.label_mode,
            **classifier_meta(cfg, num_outputs(data.label_mode, len(data.classes))),
            # arg-max tasks keep the key; predict ignores it for them
            "threshold": 0.5 if threshold is None else threshold,
            # temperature scaling: predict divides the logits by it (absent: none, T = 1)
            **({"temperature": post["temperature"]} if post.get("temperature") else {}),
        }

    def interval_scorer(self, data: TaskData, df: pd.DataFrame, run_dir: Path, of: str):
        """The headline score over `df`'s rows in the run's probabilities
        (tasks/classification/intervals.py)."""
        from visionfit.tasks.classification.intervals import classification_scorer

        return classification_scorer(data, df, run_dir, of)

    def headline(self, data: TaskData, best_metrics: dict, val_final: dict) -> tuple[str, float]:
        """The run's headline validation score: ROC AUC (binary, multi-label) or accuracy."""
        from visionfit.tasks.classification.scoring import main_metric

        key = main_metric(data.label_mode)
        return key.removeprefix("val_"), best_metrics.get(key, float("nan"))

    def rescore(self, data: TaskData, df: pd.DataFrame, probs, post: dict) -> float | None:
        """The headline (ROC AUC or accuracy) of rows `df` from their probabilities, with the
        run's threshold (tasks/classification/leakage.py)."""
        from visionfit.tasks.classification.leakage import headline_score

        return headline_score(
            data.label_mode, data.classes, list(df["image"]), split_targets(df, data.label_mode),
            probs, post.get("threshold"),
        )  # fmt: skip

    def score_split(self, args: ScoreSplit) -> dict:
        """`df`'s images predicted by the loaded run (its threshold, `tta`), scored with
        scikit-learn as out-of-fold predictions are; the table (with the true labels) goes to
        <split>_predictions.csv."""
        from visionfit.runs.rundir import atomic_write_csv
        from visionfit.tasks.classification.calibration import expected_calibration_error
        from visionfit.tasks.classification.evaluation import with_truth
        from visionfit.tasks.classification.scoring import main_metric, score

        data, predictor, df = args.data, args.predictor, args.df
        mode = data.label_mode
        table = predictor.predict(list(df["image"]), tta=args.tta)
        probs = table[[f"prob_{c}" for c in data.classes]].to_numpy(np.float64)
        y = split_targets(df, mode)
        scores = score(mode, data.classes, y, probs, predictor.meta.get("threshold"))
        scores["val_ece"] = expected_calibration_error(probs, y, mode)  # as predict gives them
        table = with_truth(table, df, mode, data.classes)
        atomic_write_csv(Path(args.out_dir) / split_file(args.split, "predictions.csv"), table)
        metric = main_metric(mode).removeprefix("val_")
        return {
            "metric": metric,
            "score": scores[f"val_{metric}"],
            "scores": {k.removeprefix("val_"): v for k, v in scores.items()},
        }

    def align_classes(self, data: TaskData, classes: list[str], label_mode: str) -> TaskData:
        from visionfit.tasks.classification.evaluation import align_classes

        return align_classes(data, classes, label_mode)

    def evaluation_files(self, args):
        """`visionfit evaluate`'s per-class table, confusion matrix, ROC/PR, mistakes and the
        titled grid of predictions (tasks/classification/evaluation.py)."""
        from visionfit.tasks.classification.evaluation import evaluation_files

        return evaluation_files(args)

    def baseline(self):
        """The scikit-learn baseline on image features (tasks/classification/baseline.py)."""
        from visionfit.tasks.classification.baseline import ClassificationBaseline

        return ClassificationBaseline()

    # ---- cross-validation ------------------------------------------------------------------

    def cv_accumulator(self, cfg: RunConfig, data: TaskData, df: pd.DataFrame):
        from visionfit.tasks.classification.cv import ClassificationCV

        return ClassificationCV(cfg, data, df)

    # ---- prediction ------------------------------------------------------------------------

    def model_from_meta(self, meta: dict):
        from visionfit.models.factory import classifier_from_meta

        return classifier_from_meta(meta)

    def probabilities(self, model, x: torch.Tensor, meta: dict) -> torch.Tensor:
        from visionfit.tasks.classification.module import probabilities

        return probabilities(model(x), meta["task"], meta.get("temperature"))

    @property
    def prediction_type(self):
        from visionfit.tasks.classification.outputs import ClassPredictions

        return ClassPredictions

    def predictions(self, predictor, batch):
        """Classes decided with the run's threshold, and the probabilities (ClassPredictions)."""
        return self.prediction_type.from_batch(predictor, batch)

    def render_summary(self, result) -> list:
        """After a single run: the calibration line (ECE, temperature; CV runs print theirs
        under the folds table)."""
        from visionfit.tasks.classification.calibration import calibration_text

        post = getattr(result, "postprocess", None) or {}
        line = calibration_text(post.get("calibration") or {}) if "calibration" in post else None
        return [line] if line else []

    def audit(self, args):
        """Likely wrong labels by confident learning (tasks/classification/audit.py)."""
        from visionfit.tasks.classification.audit import audit_classification

        run = args.run
        mode = str(run.summary.get("task") or run.config.get("data", {}).get("task", ""))
        return audit_classification(args, mode)

    def report_sections(self) -> list:
        from visionfit.tasks.classification.report import SECTIONS

        return list(SECTIONS)

    def card_sections(self, run) -> list[tuple[str, str]]:
        from visionfit.tasks.classification.card import card_sections

        return card_sections(run)

    def demo(self):
        from visionfit.tasks.classification.demo import DIGITS_DEMO

        return DIGITS_DEMO

    def export_info(self, meta: dict) -> dict:
        """The shape of an exported graph's probabilities and how to read them (export.json)."""
        from visionfit.tasks.classification.outputs import export_info

        return export_info(meta)

    def export_agreement(self, meta: dict, ref, got) -> tuple[str, float]:
        """Top-1 agreement; binary and multi-label: the decisions at the run's thresholds."""
        from visionfit.tasks.classification.outputs import decision_agreement

        if meta["task"] not in ("binary", "multilabel"):
            return super().export_agreement(meta, ref, got)
        return decision_agreement(meta, ref, got)


def num_outputs(label_mode: str, num_classes: int) -> int:
    """Binary uses one logit with BCE; multi-class, multi-label and soft one logit per class."""
    return 1 if label_mode == "binary" else num_classes


def _multiple_of_4(n: int) -> int:
    return max(8, int(round(n / 4)) * 4)


def _multiple_of_8(n: int) -> int:
    return max(8, int(round(n / 8)) * 8)


def _candidate(model: str, size: int, pretrained: bool, quality: float, epochs_scale: float):
    overrides = {"model.name": model, "model.pretrained": pretrained, "augment.img_size": size}
    name = f"{model.split('.')[0]}-{size}px" + ("-pretrained" if pretrained else "")
    return {"name": name, "overrides": overrides, "quality": quality, "epochs_scale": epochs_scale}


def _read_skipped(run_dir: Path) -> pd.DataFrame:
    from visionfit.runs.files import read_skipped

    return read_skipped(run_dir)
