"""Image regression as a Task: one number per image, from a CSV column.

`visionfit train --csv t.csv --task regress --label-col y` reads the CSV with the project's CSV
reader (non-numeric, empty or NaN targets are a DataError naming the lines), stratifies splits
and folds on quantile bins of the target, trains `RegressorModule` (mse | huber | l1 on the
target standardised by the training split's mean / std; the `regress` section,
tasks/regression/config.py), and scores R², MAE and RMSE on the target's own scale. The bundle's
network (`ScaledRegressor`) outputs values on that scale: the scaling is stored in model.json and
in the weights, so fold ensembles average values and an exported graph needs no post-processing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from visionfit.config import RunConfig
from visionfit.errors import DataError, RunError
from visionfit.tasks.base import AfterTraining, CheckInput, Fitted, ScoreSplit, TaskBase, TaskData
from visionfit.tasks.regression.config import SECTION, RegressConfig, regress_section
from visionfit.tasks.regression.targets import target_stats

LABEL_MODE = "regress"  # model.json's "task", config.yaml's data.task
VAL_FINAL_DEFINITION = (
    "val_final: the validation images predicted as `visionfit predict` does (the bundle), "
    "scored with scikit-learn on the target's scale: r2 (R²), mae, rmse"
)


class Regression(TaskBase):
    name = "regression"
    names = ("regress", "regression")
    spatial_output = False
    config_section = (SECTION, RegressConfig)

    def label_mode_for(self, cfg_task: str, cfg_label_mode: str) -> str:
        if cfg_label_mode not in ("auto", LABEL_MODE):
            raise DataError(
                f"--label-mode {cfg_label_mode} is for classification; --task regress has none"
            )
        return LABEL_MODE

    # ---- data ---------------------------------------------------------------------------------

    def load_data(self, cfg: RunConfig, *, progress: bool) -> TaskData:
        from visionfit.models.factory import check_model_name
        from visionfit.tasks.regression.layouts import load_regression_data

        regress_section(cfg)  # an invalid loss fails before the scan
        check_model_name(cfg.model.name)  # before the scan: a typo fails at once
        return load_regression_data(cfg, progress=progress)

    def render_check_section(self, section: dict) -> list:
        from visionfit.tasks.regression.console import render_check_section

        return render_check_section(section)

    def check_verdict(self, report) -> str:
        return f"{report.counts['usable']} images with a numeric target"

    def check_input(self, cfg: RunConfig) -> CheckInput:
        """The samples `visionfit check` scans, and the target's summary as the task's section;
        targets that are not numbers stop training."""
        from visionfit.tasks.regression.layouts import check_samples

        return check_samples(cfg)

    def restore_data(self, run_dir: Path, cfg: RunConfig, table: pd.DataFrame, classes):
        """The run's train/val table (its splits.csv) as it recorded it."""
        from visionfit.runs.files import read_skipped
        from visionfit.tasks.regression.layouts import with_bins

        if "value" not in table.columns:
            raise RunError(f"{run_dir / 'splits.csv'} has no 'value' column: not a regression run")
        df = table.copy()
        df["value"] = pd.to_numeric(df["value"]).astype(np.float32)
        return TaskData(
            df=with_bins(df),
            classes=list(classes),
            layout="run",
            label_mode=LABEL_MODE,
            skipped=read_skipped(run_dir),
            ignored_files=None,
            strata_optional=True,
        )

    def resolve_config(self, cfg: RunConfig, data: TaskData) -> RunConfig:
        tc = cfg.train
        if tc.sampler == "balanced" or tc.class_weights != "none":
            raise DataError(
                "--sampler balanced and --class-weights weigh classes; --task regress has none"
            )
        overrides = {"data.task": LABEL_MODE, "data.label_mode": LABEL_MODE}
        if tc.label_smoothing:
            overrides["train.label_smoothing"] = 0.0
        if tc.mixup or tc.cutmix:
            overrides.update({"train.mixup": 0.0, "train.cutmix": 0.0})
            data.notes.append("mixup/cutmix are for classes: turned off for regression")
        return cfg.with_overrides(overrides)

    def auto_candidates(self, cfg: RunConfig, data: TaskData, native: int, offline: list[str]):
        """From-scratch networks `visionfit auto` times (tasks/regression/recipes.py)."""
        from visionfit.tasks.regression.recipes import auto_candidates

        return auto_candidates(native, len(data.df))

    def recipe_family(self, cfg: RunConfig) -> str:
        from visionfit.tasks.regression.recipes import recipe_family

        return recipe_family(cfg)

    def default_monitor(self, data: TaskData) -> tuple[str, str]:
        return ("val_rmse", "min")

    def fold_kind(self, kind: str, data: TaskData, has_groups: bool) -> str:
        if kind == "multilabel":
            raise DataError("--cv multilabel is for multi-label data; --task regress: stratified")
        return super().fold_kind(kind, data, has_groups)

    def split_columns(self, df: pd.DataFrame) -> list[str]:
        return ["image", "label", "value", "split"] + (["group"] if "group" in df.columns else [])

    def run_name(self, cfg: RunConfig) -> str:
        return cfg.model.name

    def summary_extra(self, data: TaskData, df: pd.DataFrame) -> dict:
        return {
            "target": data.classes[0] if data.classes else None,
            "target_stats": target_stats(df["value"]),
            "val_final_definition": VAL_FINAL_DEFINITION,
        }

    # ---- model and training ----------------------------------------------------------------

    def create_model(self, cfg: RunConfig, data: TaskData):
        from visionfit.models.factory import create_classifier_for

        return create_classifier_for(cfg, 1)  # a classifier body with one output: the value

    def dataset_targets(self, cfg: RunConfig, data: TaskData, df: pd.DataFrame):
        from visionfit.tasks.regression.targets import value_targets

        return value_targets(df)  # (N, 1) float32 on the original scale; the module standardises

    def create_module(self, cfg, data, model, train_df, *, steps_per_epoch, param_groups):
        from visionfit.tasks.regression.module import RegressorModule, ScaledRegressor
        from visionfit.tasks.regression.targets import TargetScaling

        section = regress_section(cfg)
        scaling = TargetScaling.fit(train_df["value"].to_numpy(np.float64))
        return RegressorModule(
            ScaledRegressor(model, scaling),
            cfg.train,
            loss=section.loss,
            huber_delta=section.huber_delta,
            steps_per_epoch=steps_per_epoch,
            param_groups=param_groups,
        )

    def after_training(self, args: AfterTraining) -> Fitted:
        """The scaling the network was trained with, and its validation values (for OOF)."""
        m = args.module.model
        post = {"target_mean": float(m.target_mean.item()), "target_std": float(m.target_std)}
        if args.val_loader is None:
            return Fitted(post=post)
        values = torch.cat(args.trainer.predict(args.module, args.val_loader))
        return Fitted(post=post, val_probs=values.float().cpu().numpy().astype(np.float64))

    def bundle_meta(self, cfg: RunConfig, data: TaskData, created, post: dict) -> dict:
        from visionfit.models.factory import classifier_meta

        return {
            "task": LABEL_MODE,
            **classifier_meta(cfg, 1),
            "target": data.classes[0] if data.classes else "value",
            "loss": regress_section(cfg).loss,
            "target_mean": post["target_mean"],
            "target_std": post["target_std"],
            "output": "value * target_std + target_mean, inside the network",
        }

    # ---- evaluation ------------------------------------------------------------------------

    def evaluate(self, cfg, data, predictor, val_df, out_dir, *, progress=False) -> dict:
        """The validation images predicted by the bundle, scored: val_predictions.csv."""
        from visionfit.tasks.regression.outputs import scored_predictions

        return scored_predictions(predictor, val_df, out_dir, "val")

    def interval_scorer(self, data: TaskData, df: pd.DataFrame, run_dir: Path, of: str):
        """The headline score over `df`'s rows in the run's predictions
        (tasks/regression/intervals.py)."""
        from visionfit.tasks.regression.intervals import regression_scorer

        return regression_scorer(data, df, run_dir, of)

    def headline(self, data: TaskData, best_metrics: dict, val_final: dict) -> tuple[str, float]:
        """R² of the validation images predicted by the bundle (higher is better)."""
        return "r2", val_final.get("r2", best_metrics.get("val_r2", float("nan")))

    def score_split(self, args: ScoreSplit) -> dict:
        from visionfit.tasks.regression.outputs import scored_predictions

        scores = scored_predictions(args.predictor, args.df, args.out_dir, args.split, tta=args.tta)
        return {"metric": "r2", "score": scores.get("r2"), "scores": scores}

    def evaluation_files(self, args):
        """`visionfit evaluate`'s predicted-vs-true and residual plots, the largest errors and
        a titled grid of predictions (tasks/regression/evaluation.py)."""
        from visionfit.tasks.regression.evaluation import evaluation_files

        return evaluation_files(args)

    def cv_accumulator(self, cfg: RunConfig, data: TaskData, df: pd.DataFrame):
        from visionfit.tasks.regression.cv import RegressionCV

        return RegressionCV(cfg, data, df)

    def baseline(self):
        """The random-forest pixel baseline (tasks/regression/baseline.py)."""
        from visionfit.tasks.regression.baseline import RegressionBaseline

        return RegressionBaseline()

    # ---- prediction ------------------------------------------------------------------------

    def model_from_meta(self, meta: dict):
        from visionfit.models.factory import classifier_from_meta
        from visionfit.tasks.regression.module import ScaledRegressor
        from visionfit.tasks.regression.targets import TargetScaling

        net = classifier_from_meta({"num_outputs": 1, **meta})
        return ScaledRegressor(net, TargetScaling.from_meta(meta))

    def probabilities(self, model, x: torch.Tensor, meta: dict) -> torch.Tensor:
        """(N, 1) values on the target's scale (the protocol's name; no probabilities here)."""
        return model(x).float()

    @property
    def prediction_type(self):
        from visionfit.tasks.regression.outputs import RegressionPredictions

        return RegressionPredictions

    def predictions(self, predictor, batch):
        return self.prediction_type.from_batch(predictor, batch)

    def export_info(self, meta: dict) -> dict:
        return {
            "output_shape": ["batch", 1],
            "output_kind": "value",
            "target": meta.get("target", "value"),
            "target_mean": meta.get("target_mean"),
            "target_std": meta.get("target_std"),
            "postprocess": (
                "none: the graph outputs the value on the target's scale (value * target_std "
                "+ target_mean is baked into it; a fold ensemble averages its members' values)"
            ),
        }

    def audit(self, args):
        """Per-image label quality, worst first (tasks/regression/audit.py)."""
        from visionfit.tasks.regression.audit import audit_regression

        return audit_regression(args)

    def export_agreement(self, meta: dict, ref, got) -> tuple[str, float]:
        """1 - the largest absolute difference of the values / the target's standard deviation
        (training's; else the values' own spread)."""
        import numpy as np

        spread = float(meta.get("target_std") or 0.0) or float(np.std(ref)) or 1.0
        return "value", max(0.0, 1.0 - float(np.max(np.abs(ref - got))) / spread)

    def report_sections(self) -> list:
        from visionfit.tasks.regression.report import SECTIONS

        return list(SECTIONS)

    def render_summary(self, result) -> list:
        from visionfit.tasks.regression.console import render_summary

        return render_summary(result)
