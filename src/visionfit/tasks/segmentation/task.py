"""Segmentation as a Task: binary and multi-class masks, from mask folders or RLE CSVs.

Reads its layouts with tasks/segmentation/sources.py, stratifies splits and folds on empty /
non-empty
masks, trains `SegmenterModule`, tunes the probability threshold and minimum component area on
the validation (or pooled out-of-fold) probabilities, predicts the validation images exactly as
`visionfit predict` does (original size, post-processed) and scores them (`val_final`), and writes
predictions as mask PNGs, overlays and an RLE CSV in the training data's own format.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from visionfit.config import RunConfig
from visionfit.errors import ModelError, RunError
from visionfit.tasks.base import (
    AfterTraining,
    CheckInput,
    Fitted,
    ScoreSplit,
    TaskBase,
    TaskData,
    split_file,
)
from visionfit.tasks.segmentation.config import SegmentConfig

DICE_DEFINITION = (
    "val_final.dice: mean over validation images (then over foreground classes) of "
    "2|P&T|/(|P|+|T|) at each image's original size after post-processing, an image with "
    "empty prediction and empty truth scoring 1; dice_global pools all pixels. "
    "best_metrics are per-epoch scores at the training size, threshold 0.5."
)


class Segmentation(TaskBase):
    name = "segmentation"
    names = ("segment", "segmentation")
    config_section = ("segment", SegmentConfig)
    spatial_output = True
    formats = ("coco", "yolo", "voc", "rle")  # the --format names it reads (auto picks it)
    hub_pipeline_tag = "image-segmentation"

    def claims_layout(self, path: Path) -> bool:
        """An RLE CSV given as DATA, or the mask folders the reader takes: DATA/images +
        DATA/masks (also imgs/, labels/, ...), or DATA/train/{images,masks} + DATA/val/..., or
        a Pascal VOC folder (SegmentationClass/ + JPEGImages/, at most two levels down), or a
        COCO JSON or YOLO data.yaml (or a folder holding one)."""
        from visionfit.tasks.segmentation.formats import claims

        if claims(path):
            return True
        if path.is_file():
            return path.suffix.lower() == ".csv"
        from visionfit.tasks.segmentation.folders import has_mask_folders
        from visionfit.tasks.segmentation.voc import voc_candidates

        return has_mask_folders(path) or bool(voc_candidates(path))

    # ---- data ---------------------------------------------------------------------------------

    def load_data(self, cfg: RunConfig, *, progress: bool) -> TaskData:
        if cfg.model.name != "simple_cnn" or cfg.model.pretrained or cfg.model.weights:
            raise ModelError(
                "--model/--pretrained/--weights choose classifiers; for --task segment choose "
                "the network with --arch, --encoder and --encoder-weights (imagenet | none | PATH)"
            )
        _refuse_crop(cfg)  # before the masks are read (and their values announced)
        from visionfit.tasks.segmentation.layouts import load_segmentation_data

        return load_segmentation_data(cfg, progress=progress)

    def check_input(self, cfg: RunConfig):
        """Samples (stratified on empty / non-empty masks), the mask section of the report, and
        what stops training (size mismatches, mask values outside the convention)."""
        from visionfit.tasks.segmentation.check import check_input

        samples, section, problems = check_input(cfg.data, cfg.segment)
        return CheckInput(samples, section, problems, classes_required=False)

    def restore_data(self, run_dir: Path, cfg: RunConfig, table: pd.DataFrame, classes):
        """The dataset read again, with the run's recorded train/val assignment."""
        data = self.load_data(cfg, progress=False)
        split = dict(zip(table["image"], table["split"], strict=True))
        missing = [im for im in table["image"] if im not in set(data.df["image"])]
        if missing:
            raise RunError(
                f"{len(missing)} images of this run are no longer usable, e.g. {missing[0]}: "
                "it cannot be resumed exactly; start a new run"
            )
        df = data.df[data.df["image"].isin(split)].copy()
        df["split"] = df["image"].map(split)
        data.df = df.reset_index(drop=True)
        return data

    def resolve_config(self, cfg: RunConfig, data: TaskData) -> RunConfig:
        from visionfit.models.segmentation import DEFAULT_ENCODER, is_scratch
        from visionfit.tasks.segmentation.module import default_loss

        seg, k = cfg.segment, data.extra["spec"].num_classes
        _refuse_crop(cfg)
        encoder = seg.encoder
        if not is_scratch(seg.arch, encoder) and not encoder:
            encoder = DEFAULT_ENCODER
        return cfg.with_overrides(
            {
                "data.task": "segment",
                "segment.loss": default_loss(k) if seg.loss == "auto" else seg.loss,
                "segment.num_classes": k,
                "segment.encoder": encoder,
                "segment.class_names": data.classes,
                # soft targets and mixed images are classification tools
                "train.label_smoothing": 0.0,
                "train.mixup": 0.0,
                "train.cutmix": 0.0,
            }
        )

    def recipe_family(self, cfg: RunConfig) -> str:
        return "segmentation"

    def auto_candidates(self, cfg: RunConfig, data: TaskData, native: int, offline: list[str]):
        """From-scratch U-Nets `visionfit auto` times, at the images' own size (a multiple of
        32, at most 128): a narrow and a wider one."""
        size = max(32, min(128, int(round(native / 32)) * 32))
        return [
            {
                "name": f"unet-w{width}-{size}px",
                "overrides": {
                    "segment.arch": "unet",
                    "segment.encoder": None,
                    "segment.width": width,
                    "augment.img_size": size,
                },
                "quality": quality,
                "epochs_scale": scale,
            }
            for width, quality, scale in ((16, 1.0, 10.0), (32, 1.04, 12.0))
        ]

    def default_monitor(self, data: TaskData) -> tuple[str, str]:
        return ("val_dice", "max")

    def stratify(self, data: TaskData) -> str:
        return "target"  # empty / non-empty mask

    def split_columns(self, df: pd.DataFrame) -> list[str]:
        cols = ["image", "id", "mask", "empty_mask", "label", "split"]
        return cols + (["group"] if "group" in df.columns else [])

    def run_name(self, cfg: RunConfig) -> str:
        from visionfit.models.segmentation import is_scratch

        seg = cfg.segment
        return seg.arch if is_scratch(seg.arch, seg.encoder) else f"{seg.arch}-{seg.encoder}"

    def summary_extra(self, data: TaskData, df: pd.DataFrame) -> dict:
        return {
            "skipped": [
                {"file": f, "reason": r}
                for f, r in zip(data.skipped["image"], data.skipped["reason"], strict=True)
            ],
            "empty_mask_share": float(df["empty_mask"].mean()),
            "dice_definition": DICE_DEFINITION,
        }

    # ---- model and training ----------------------------------------------------------------

    def create_model(self, cfg: RunConfig, data: TaskData):
        from visionfit.models.segmentation import create_segmenter

        seg = cfg.segment
        k = seg.num_classes or 2
        created = create_segmenter(
            seg.arch,
            encoder=seg.encoder,
            encoder_weights=seg.encoder_weights,
            in_chans=cfg.data.in_chans,
            num_outputs=1 if k == 2 else k,
            width=seg.width,
        )
        _check_img_size(cfg, created)
        return created

    def dataset_targets(self, cfg: RunConfig, data: TaskData, df: pd.DataFrame):
        from visionfit.tasks.segmentation.targets import MaskTargets

        return MaskTargets(df, data.extra["spec"], data.extra["rle"])

    def cache_masks(self, cfg: RunConfig, data: TaskData):
        """Masks decoded once with their images, and per mask a key that changes with it (the
        mask file's identity, or the RLE text, with the mask convention)."""
        import hashlib

        from visionfit.data.scan_cache import file_key
        from visionfit.tasks.segmentation.targets import MaskTargets

        spec, rle = data.extra["spec"], data.extra["rle"]
        classes = data.df["rle_class"] if "rle_class" in data.df else [()] * len(data.df)
        shapes = data.df["shapes"] if "shapes" in data.df else [()] * len(data.df)
        keys = [
            f"{file_key(m)}|{spec!r}"
            if m
            else hashlib.sha1(
                (f"{r!r}|{c!r}|{rle!r}" + (f"|{s!r}|{spec.class_ignore}" if s else "")).encode()
            ).hexdigest()
            for m, r, c, s in zip(data.df["mask"], data.df["rle"], classes, shapes, strict=True)
        ]
        return MaskTargets(data.df, spec, rle), keys

    def create_module(self, cfg, data, model, train_df, *, steps_per_epoch, param_groups):
        from visionfit.tasks.segmentation.module import SegmenterModule

        return SegmenterModule(
            model,
            data.extra["spec"].num_classes,
            cfg.train,
            loss=cfg.segment.loss,
            class_names=data.classes,
            ignore_index=data.extra["spec"].class_ignore,
            steps_per_epoch=steps_per_epoch,
            param_groups=param_groups,
        )

    def after_training(self, args: AfterTraining) -> Fitted:
        """Threshold and minimum component area tuned on the validation set (binary masks)."""
        from visionfit.tasks.segmentation.postprocess import (
            foreground_probabilities,
            tune_postprocess,
        )

        seg, k = args.cfg.segment, args.data.extra["spec"].num_classes
        val_loader, out_dir = args.val_loader, args.out_dir
        given = args.post or {}
        post = {
            "threshold": given.get("threshold", seg.threshold),
            "min_area": given.get("min_area", seg.min_area),
        }
        if k == 2 and seg.tune_postprocess and val_loader is not None:
            probs, targets = foreground_probabilities(args.module.model, val_loader)
            tuned = tune_postprocess(probs, targets)
            from visionfit.fileio import atomic_write_csv

            atomic_write_csv(out_dir / "postprocess.csv", tuned.grid_frame())  # the whole grid
            post = {
                "threshold": tuned.threshold,
                "min_area": tuned.min_area,
                "tuned_on": "validation set at the training size",
                "dice_at_tuned": tuned.dice,
                "dice_at_0.5": tuned.dice_default,
            }
        return Fitted(post=post)

    def bundle_meta(self, cfg: RunConfig, data: TaskData, created, post: dict) -> dict:
        from visionfit.models.segmentation import is_scratch
        from visionfit.tasks.segmentation.sources import RleInfo

        seg, spec = cfg.segment, data.extra["spec"]
        k = spec.num_classes
        return {
            "task": "segment",
            "arch": seg.arch,
            "encoder": None if is_scratch(seg.arch, seg.encoder) else seg.encoder,
            "width": seg.width,
            "num_classes": k,
            "num_outputs": 1 if k == 2 else k,
            "threshold": post["threshold"],
            "min_area": post["min_area"],
            "mask_spec": spec.to_json(),
            "mask_suffix": seg.mask_suffix,
            "rle": (data.extra["rle"] or RleInfo()).to_json(),
            # the annotation format trained on: COCO category ids for predictions written back
            "source": data.extra.get("source") or {},
        }

    def evaluate(self, cfg, data, predictor, val_df, out_dir, *, progress=False) -> dict:
        """The validation images predicted as `visionfit predict` would, scored (val_final)."""
        from visionfit.tasks.segmentation.scoring import evaluate_predictions

        return evaluate_predictions(
            predictor, val_df, data, out_dir / "val_predictions", progress=progress
        )

    def interval_scorer(self, data: TaskData, df: pd.DataFrame, run_dir: Path, of: str):
        """The headline score over `df`'s rows in the run's per-image dice
        (tasks/segmentation/intervals.py)."""
        from visionfit.tasks.segmentation.intervals import segmentation_scorer

        return segmentation_scorer(data, df, run_dir, of)

    def headline(self, data: TaskData, best_metrics: dict, val_final: dict) -> tuple[str, float]:
        """Dice of the validation images predicted at their original size, post-processed."""
        return "dice", val_final.get("dice", best_metrics.get("val_dice", float("nan")))

    def score_split(self, args: ScoreSplit) -> dict:
        """`df`'s images predicted by the loaded run with its post-processing and test-time
        flips (`train.tta`), scored as the validation images are (`evaluate_predictions`;
        masks in <split>_predictions/)."""
        from visionfit.tasks.segmentation.scoring import evaluate_predictions

        scores = evaluate_predictions(
            args.predictor,
            args.df,
            args.data,
            Path(args.out_dir) / (f"{args.split}_predictions" if args.split else "predicted"),
            progress=args.progress,
            # `visionfit evaluate` (no split name): the per-image table is its predictions.csv
            scores_file=split_file(args.split, "scores_per_image.csv")
            if args.split
            else "predictions.csv",
        )
        return {"metric": "dice", "score": scores.get("dice"), "scores": scores}

    # ---- cross-validation ------------------------------------------------------------------

    def evaluation_files(self, args):
        """`visionfit evaluate`'s per-class table, best/worst grid, dice histogram and a grid
        of predictions (tasks/segmentation/evaluation.py)."""
        from visionfit.tasks.segmentation.evaluation import evaluation_files

        return evaluation_files(args)

    def cv_accumulator(self, cfg: RunConfig, data: TaskData, df: pd.DataFrame):
        from visionfit.tasks.segmentation.cv import SegmentationCV

        return SegmentationCV(cfg, data, df)

    # ---- prediction ------------------------------------------------------------------------

    def model_from_meta(self, meta: dict):
        from visionfit.models.segmentation import segmenter_from_meta

        return segmenter_from_meta(meta).model

    def probabilities(self, model, x, meta: dict):
        """(N, K, h, w) class probabilities (the valid-convolution U-Net by overlap-tile)."""
        from visionfit.models.segmentation import forward_logits
        from visionfit.tasks.segmentation.module import probabilities

        return probabilities(forward_logits(model, x))

    def head(self, meta: dict):
        from visionfit.tasks.segmentation.outputs import MaskHead

        return MaskHead.from_meta(meta)

    def export_info(self, meta: dict) -> dict:
        """The shape of an exported graph's probabilities and how to read them (export.json)."""
        size, k = int(meta["img_size"]), int(meta["num_classes"])
        return {
            "output_shape": ["batch", k, size, size],
            "num_classes": k,
            "min_area": float(meta.get("min_area", 0.0)),
            "postprocess": (
                "argmax over classes at the model size, probabilities resized to the image "
                "(bilinear); binary: foreground >= threshold, components smaller than min_area "
                "(a share of the image's pixels, 8-connected) removed"
            ),
        }

    def export_agreement(self, meta: dict, ref, got) -> tuple[str, float]:
        """The share of model-size pixels given the same class (binary: foreground at the
        run's threshold)."""
        import numpy as np

        if ref.shape[1] == 2:
            thr = float(meta.get("threshold", 0.5))
            return "pixels", float(np.mean((ref[:, 1] >= thr) == (got[:, 1] >= thr)))
        return "pixels", float(np.mean(np.argmax(ref, axis=1) == np.argmax(got, axis=1)))

    @property
    def prediction_type(self):
        from visionfit.tasks.segmentation.outputs import MaskPredictions

        return MaskPredictions

    def predictions(self, predictor, batch):
        """Masks at each image's size, post-processed, with their RLE (MaskPredictions)."""
        return self.prediction_type.from_batch(predictor, batch)

    def audit(self, args):
        """Per-image label quality, worst first (tasks/segmentation/audit.py)."""
        from visionfit.tasks.segmentation.audit import audit_segmentation

        return audit_segmentation(args)

    def report_sections(self) -> list:
        from visionfit.tasks.segmentation.report import SECTIONS

        return list(SECTIONS)

    def check_verdict(self, report) -> str:
        n = sum(1 for count in report.classes.values() if count)
        return f"{report.counts['usable']} images in {n} kind{'' if n == 1 else 's'} of mask"

    def render_check_section(self, section: dict) -> list:
        """The table of `visionfit check`'s segmentation section, then its first problems."""
        from visionfit.tasks.segmentation.console import render_check_section

        return render_check_section(section)

    def render_summary(self, result) -> list:
        """Post-processed validation scores (one run) or the per-fold dice table (--folds)."""
        from visionfit.tasks.segmentation.console import render_summary

        return render_summary(result)

    def recipes(self):
        from visionfit.tasks.segmentation.recipes import RECIPES

        return RECIPES

    def demo(self):
        from visionfit.tasks.segmentation.demo import SHAPES_DEMO

        return SHAPES_DEMO


def _check_img_size(cfg: RunConfig, created) -> None:
    from visionfit.models.segmentation import size_multiple

    seg, size = cfg.segment, cfg.augment.img_size
    mult = size_multiple(seg.arch, seg.encoder)
    if size % mult:
        lo, hi = size - size % mult, size - size % mult + mult
        raise ModelError(
            f"--img-size {size} does not fit {seg.arch} with encoder {seg.encoder}: sides must be "
            f"a multiple of {mult} (e.g. {max(lo, mult)} or {hi})"
        )
    valid = getattr(created.model, "is_valid_input", None)
    if valid is not None and not valid(size):
        near = created.model.valid_sizes_near(size)
        raise ModelError(
            f"--img-size {size} does not fit unet_original (valid convolutions): valid sizes are "
            f"16k + 124 from 188 on, e.g. {', '.join(map(str, near))} (572 gives a 388 output)"
        )


def _refuse_crop(cfg: RunConfig) -> None:
    if cfg.augment.resize == "crop":
        raise ModelError(
            "--resize crop evaluates on a centre crop, and a mask is predicted for the whole "
            "image: use --resize squash (the default) or pad for segmentation"
        )
