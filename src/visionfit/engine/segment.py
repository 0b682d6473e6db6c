"""Segmentation runs and predictions.

`fit_segmentation(cfg)`: samples -> hold-out split (stratified by empty / non-empty mask) ->
network -> Lightning Trainer -> best checkpoint -> threshold and minimum component area tuned on
the validation set -> bundle -> the validation images predicted exactly as `visionfit predict`
does (original size, post-processed) and scored against their true masks. Those predictions are
kept in the run (`val_predictions/`), with one score row per image (`val_scores.csv`), so the
validation dice in `summary.json` can be recomputed from files.

`SegPredictor` (what `visionfit.load(run_dir)` gives for a segmentation run): masks at each image's
original size, optional overlays, and an RLE CSV in the training data's own format.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from visionfit.config import RunConfig
from visionfit.data.io import ImageDecodeError, decode_image
from visionfit.data.masks import MaskSpec
from visionfit.data.rle import rle_decode_rows, rle_encode
from visionfit.data.seg_datasets import SegDataset, create_seg_transforms, load_target
from visionfit.data.seg_sources import RleInfo, SegSamples, load_seg_samples
from visionfit.data.splits import holdout_split
from visionfit.engine.bundle import load_bundle_model, save_bundle
from visionfit.engine.callbacks import AtomicCheckpointIO, EpochMetricsCSV
from visionfit.engine.fit import RunResult, default_workers, quiet_lightning
from visionfit.engine.rundir import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_text,
    create_run_dir,
)
from visionfit.errors import DataError, ModelError
from visionfit.models.factory import CreatedModel
from visionfit.models.segmentation import (
    create_segmenter,
    forward_logits,
    is_scratch,
    size_multiple,
)
from visionfit.tasks.seg_metrics import image_stats, per_image_dice, per_image_iou, summarise
from visionfit.tasks.seg_postprocess import postprocess_binary, tune_postprocess
from visionfit.tasks.segmentation import SegmentationTask, default_loss, probabilities


@dataclass
class SegRunResult(RunResult):
    """A RunResult plus the final validation scores (original size, post-processed)."""

    val_final: dict[str, float] = field(default_factory=dict)
    postprocess: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Training


def resolve_seg_config(cfg: RunConfig, samples: SegSamples) -> RunConfig:
    """Fill the "auto" fields so that config.yaml states exactly what ran."""
    seg = cfg.segment
    k = samples.spec.num_classes
    monitor, mode = cfg.train.monitor, cfg.train.monitor_mode
    if monitor == "auto":
        monitor, mode = "val_dice", ("max" if mode == "auto" else mode)
    elif mode == "auto":
        mode = "min" if monitor.endswith("loss") else "max"
    encoder = seg.encoder
    if not is_scratch(seg.arch, encoder) and not encoder:
        from visionfit.models.segmentation import DEFAULT_ENCODER

        encoder = DEFAULT_ENCODER
    workers = cfg.data.workers if cfg.data.workers is not None else default_workers()
    return cfg.with_overrides(
        {
            "data.task": "segment",
            "data.workers": workers,
            "train.monitor": monitor,
            "train.monitor_mode": mode,
            "segment.loss": default_loss(k) if seg.loss == "auto" else seg.loss,
            "segment.num_classes": k,
            "segment.encoder": encoder,
            "segment.class_names": samples.classes,
        }
    )


def _check_img_size(cfg: RunConfig, created: CreatedModel) -> None:
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


def _create(cfg: RunConfig) -> CreatedModel:
    seg = cfg.segment
    k = seg.num_classes or 2
    return create_segmenter(
        seg.arch,
        encoder=seg.encoder,
        encoder_weights=seg.encoder_weights,
        in_chans=cfg.data.in_chans,
        num_outputs=1 if k == 2 else k,
        width=seg.width,
    )


def _run_name(cfg: RunConfig) -> str:
    if cfg.name:
        return cfg.name
    seg = cfg.segment
    return seg.arch if is_scratch(seg.arch, seg.encoder) else f"{seg.arch}-{seg.encoder}"


def fit_segmentation(cfg: RunConfig, *, progress: bool = True) -> SegRunResult:
    """Train one segmentation model as described by `cfg` and write its run directory.

    >>> cfg = RunConfig.from_dict({"data": {"path": "data/", "task": "segment"},
    ...                            "segment": {"arch": "unet", "width": 16}})
    >>> result = fit_segmentation(cfg)
    >>> result.val_final["dice"]
    """
    t_start = time.perf_counter()
    quiet_lightning()
    if cfg.model.name != "simple_cnn" or cfg.model.pretrained or cfg.model.weights:
        raise ModelError(
            "--model/--pretrained/--weights choose classifiers; for --task segment choose the "
            "network with --arch, --encoder and --encoder-weights (imagenet | none | PATH)"
        )
    samples = _load_with_progress(cfg, progress)
    cfg = resolve_seg_config(cfg, samples)
    created = _create(cfg)
    _check_img_size(cfg, created)

    df = samples.df.copy()
    df["target"] = (~df["empty_mask"]).astype(int)
    df = holdout_split(df, cfg.data.val_fraction, cfg.train.seed)

    run_dir = create_run_dir(cfg.runs_dir, _run_name(cfg))
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    atomic_write_text(run_dir / "classes.json", json.dumps(samples.classes, indent=2))
    split_cols = ["image", "id", "mask", "empty_mask", "split"]
    atomic_write_csv(run_dir / "splits.csv", df[split_cols])

    train_df, val_df = df[df["split"] == "train"], df[df["split"] == "val"]
    split = train_seg_split(
        cfg, samples, train_df, val_df, run_dir, created=created, progress=progress
    )
    result = SegRunResult(
        run_dir=run_dir,
        task="segment",
        classes=samples.classes,
        monitor=cfg.train.monitor,
        best_epoch=split.best_epoch,
        best_metrics=split.best_metrics,
        seconds=time.perf_counter() - t_start,
        n_train=len(train_df),
        n_val=len(val_df),
        weights_source=created.weights_source,
        skipped_files=len(samples.skipped),
        notes=samples.notes,
        val_final=split.val_final,
        postprocess=split.postprocess,
    )
    summary = {
        **{k: v for k, v in result.__dict__.items() if k != "run_dir"},
        "run_dir": str(run_dir),
        "kind": "single",
        "layout": samples.layout,
        "skipped": [{"file": p, "reason": r} for p, r in samples.skipped],
        "epochs_run": split.epochs_run,
        "empty_mask_share": float(df["empty_mask"].mean()),
        "dice_definition": (
            "val_final.dice: mean over validation images (then over foreground classes) of "
            "2|P&T|/(|P|+|T|) at each image's original size after post-processing, an image with "
            "empty prediction and empty truth scoring 1; dice_global pools all pixels. "
            "best_metrics are per-epoch scores at the training size, threshold 0.5."
        ),
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    return result


def _load_with_progress(cfg: RunConfig, progress: bool) -> SegSamples:
    """Read the samples table; reading every mask once shows a progress bar."""
    if not progress:
        return load_seg_samples(cfg.data, cfg.segment)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("reading images and masks", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return load_seg_samples(cfg.data, cfg.segment, progress=update)


@dataclass
class SegSplitResult:
    module: SegmentationTask
    best_epoch: int
    best_metrics: dict[str, float]
    epochs_run: int
    val_final: dict[str, float]
    postprocess: dict


def train_seg_split(
    cfg: RunConfig,
    samples: SegSamples,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    out_dir: Path,
    *,
    created: CreatedModel | None = None,
    progress: bool = True,
) -> SegSplitResult:
    """Train a fresh segmenter on `train_df`, validate on `val_df`, and write checkpoints/,
    metrics.csv, the bundle and val_predictions/ into `out_dir` (once per run, or per CV fold)."""
    tc, seg = cfg.train, cfg.segment
    L.seed_everything(tc.seed, workers=True, verbose=False)
    created = created or _create(cfg)
    pre = created.preprocessing
    size = cfg.augment.img_size
    train_tf = create_seg_transforms(cfg.augment.preset, size, pre.mean, pre.std, train=True)
    eval_tf = create_seg_transforms("none", size, pre.mean, pre.std, train=False)
    workers = cfg.data.workers or 0
    loader_kw = {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "pin_memory": torch.cuda.is_available(),
    }
    ds_kw = {"in_chans": cfg.data.in_chans, "rle": samples.rle}
    train_loader = DataLoader(
        SegDataset(train_df, samples.spec, train_tf, **ds_kw),
        batch_size=tc.batch_size,
        shuffle=True,
        drop_last=len(train_df) > tc.batch_size,
        **loader_kw,
    )
    val_loader = DataLoader(
        SegDataset(val_df, samples.spec, eval_tf, **ds_kw),
        batch_size=tc.batch_size,
        shuffle=False,
        **loader_kw,
    )
    k = samples.spec.num_classes
    module = SegmentationTask(created.model, k, tc, loss=seg.loss, class_names=samples.classes)
    ckpt_dir = out_dir / "checkpoints"
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=tc.monitor,
        mode=tc.monitor_mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    callbacks: list = [checkpoint, EpochMetricsCSV(out_dir / "metrics.csv")]
    if tc.patience:
        callbacks.append(
            EarlyStopping(monitor=tc.monitor, mode=tc.monitor_mode, patience=tc.patience)
        )
    if progress:
        callbacks.append(RichProgressBar(leave=True))
    trainer = L.Trainer(
        max_epochs=tc.epochs,
        accelerator=tc.accelerator,
        devices=1,
        precision=tc.precision,
        deterministic=tc.deterministic,
        callbacks=callbacks,
        logger=False,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(out_dir),
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )
    trainer.fit(module, train_loader, val_loader)

    best_path = checkpoint.best_model_path or str(ckpt_dir / "last.ckpt")
    ckpt = torch.load(best_path, map_location="cpu", weights_only=True)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    best_epoch = int(ckpt["epoch"])
    metrics = pd.read_csv(out_dir / "metrics.csv")
    best_row = metrics[metrics["epoch"] == best_epoch]
    best_metrics = (
        {k: float(v) for k, v in best_row.iloc[0].items() if k.startswith(("val_", "train_"))}
        if len(best_row)
        else {}
    )

    threshold, min_area, tuning = seg.threshold, seg.min_area, {}
    if k == 2 and seg.tune_postprocess and len(val_df):
        probs, targets = _collect_val_probs(module.model, val_loader, progress)
        tuned = tune_postprocess(probs, targets)
        threshold, min_area = tuned.threshold, tuned.min_area
        tuning = {
            "tuned_on": "validation set at the training size",
            "dice_at_tuned": tuned.dice,
            "dice_at_0.5": tuned.dice_default,
        }
    postprocess = {"threshold": threshold, "min_area": min_area, **tuning}

    rle = samples.rle or RleInfo()
    meta = {
        "task": "segment",
        "arch": seg.arch,
        "encoder": None if is_scratch(seg.arch, seg.encoder) else seg.encoder,
        "width": seg.width,
        "num_classes": k,
        "num_outputs": 1 if k == 2 else k,
        "classes": samples.classes,
        "in_chans": cfg.data.in_chans,
        "img_size": size,
        "mean": list(pre.mean),
        "std": list(pre.std),
        "interpolation": pre.interpolation,
        "threshold": threshold,
        "min_area": min_area,
        "mask_spec": samples.spec.to_json(),
        "mask_suffix": seg.mask_suffix,
        "rle": rle.to_json(),
        "best_epoch": best_epoch,
        "monitor": tc.monitor,
        "monitor_value": best_metrics.get(tc.monitor),
    }
    save_bundle(out_dir, module.model, meta)

    predictor = SegPredictor([module.model], meta, out_dir)
    val_final = evaluate_predictions(
        predictor, val_df, samples, out_dir / "val_predictions", progress=progress
    )
    return SegSplitResult(
        module=module,
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        epochs_run=int(metrics["epoch"].max()) + 1 if len(metrics) else 0,
        val_final=val_final,
        postprocess=postprocess,
    )


@torch.no_grad()
def _collect_val_probs(
    model: torch.nn.Module, loader: DataLoader, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground probabilities (float16) and 0/1 targets at the training size."""
    model.eval()
    device = next(model.parameters()).device
    probs, targets = [], []
    for x, y in loader:
        p = torch.sigmoid(forward_logits(model, x.to(device)).float()[:, 0])
        probs.append(p.to(torch.float16).cpu().numpy())
        targets.append(y.numpy().astype(np.uint8))
    return np.concatenate(probs), np.concatenate(targets)


def evaluate_predictions(
    predictor: SegPredictor,
    df: pd.DataFrame,
    samples: SegSamples,
    out_dir: Path,
    *,
    progress: bool = False,
) -> dict[str, float]:
    """Predict `df`'s images as `visionfit predict` would, write the masks, the RLE CSV and
    per-image scores into `out_dir`, and return the scores against the true masks."""
    if df.empty:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    masks_dir = out_dir / "masks"
    k = predictor.num_classes
    stats, rows, correct, pixels, max_probs = [], [], 0, 0, []
    pred_table = predictor.predict(
        list(df["image"]), masks_dir=masks_dir, keep_masks=True, progress=progress
    )
    for (_, row), mask, mp in zip(
        df.iterrows(), predictor.last_masks, predictor.last_max_prob, strict=True
    ):
        truth = load_target(row, samples.spec, samples.rle, (int(row["height"]), int(row["width"])))
        if mask is None:
            raise DataError(f"validation image {row['image']} could not be read for scoring")
        s = image_stats(torch.from_numpy(mask)[None], torch.from_numpy(truth)[None], k)
        stats.append(s)
        correct += int((mask == truth).sum())
        pixels += truth.size
        max_probs.append(mp)
        d, j = per_image_dice(s)[0], per_image_iou(s)[0]
        rows.append(
            {
                "id": row["id"],
                "image": row["image"],
                "mask_file": str(masks_dir / f"{Path(row['image']).stem}.png"),
                "dice": float(d.mean()),
                "iou": float(j.mean()),
                "pred_pixels": int(s[0, :, 1].sum()),
                "true_pixels": int(s[0, :, 2].sum()),
            }
        )
    atomic_write_csv(out_dir / "predictions.csv", pred_table)
    scores = summarise(
        np.concatenate(stats),
        correct,
        pixels,
        predictor.classes,
        np.asarray(max_probs) if k == 2 else None,
    )
    atomic_write_csv(out_dir.parent / "val_scores.csv", pd.DataFrame(rows))
    return scores


# --------------------------------------------------------------------------------------------------
# Prediction


class _ImagesDataset(Dataset):
    def __init__(self, items: Sequence, transform, in_chans: int, img_size: int):
        self.items, self.transform = list(items), transform
        self.in_chans, self.img_size = in_chans, img_size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        try:
            arr = decode_image(self.items[i], in_chans=self.in_chans)
        except ImageDecodeError as e:
            return torch.zeros(self.in_chans, self.img_size, self.img_size), 0, 0, e.reason
        x = self.transform(image=arr)["image"]
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return x, arr.shape[0], arr.shape[1], ""


TTA_MODES = ("none", "hflip", "hvflip")


class SegPredictor:
    """A trained segmenter (or several, averaged) with its preprocessing and post-processing.

    >>> p = visionfit.load("runs/unet-20260101-120000")
    >>> table = p.predict(["a.png"], masks_dir="masks/")  # writes masks/a.png; RLE table
    """

    def __init__(self, models: Sequence[torch.nn.Module], meta: dict, run_dir: Path | None = None):
        self.models = [m.eval() for m in models]
        self.model = self.models[0]
        self.meta = meta
        self.run_dir = run_dir
        self.task = "segment"
        self.classes: list[str] = list(meta["classes"])
        self.num_classes: int = int(meta["num_classes"])
        self.threshold = float(meta.get("threshold", 0.5))
        self.min_area = float(meta.get("min_area", 0.0))
        self.rle = RleInfo.from_json(meta.get("rle"))
        self.spec = MaskSpec.from_json(meta["mask_spec"]) if meta.get("mask_spec") else None
        self.transform = create_seg_transforms(
            "none", meta["img_size"], meta["mean"], meta["std"], train=False
        )
        self.last_masks: list[np.ndarray | None] = []
        self.last_max_prob: list[float] = []

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> SegPredictor:
        model, meta = load_bundle_model(run_dir)
        return cls([model], meta, Path(run_dir))

    # ---- probabilities ---------------------------------------------------------------------

    @torch.no_grad()
    def _probs(self, x: torch.Tensor, tta: str) -> torch.Tensor:
        """(N, K, h, w) class probabilities at the model's size, averaged over models and flips."""
        flips: list[tuple[int, ...]] = [()]
        if tta in ("hflip", "hvflip"):
            flips.append((3,))
        if tta == "hvflip":
            flips.append((2,))
        total = None
        for model in self.models:
            device = next(model.parameters()).device
            xd = x.to(device)
            for dims in flips:
                xin = torch.flip(xd, dims=dims) if dims else xd
                p = probabilities(forward_logits(model, xin))
                p = torch.flip(p, dims=dims) if dims else p  # undo the flip on the output
                total = p.cpu() if total is None else total + p.cpu()
        return total / (len(self.models) * len(flips))

    def _to_mask(self, probs: torch.Tensor, h: int, w: int) -> tuple[np.ndarray, float]:
        """Class-index mask at (h, w) from one image's (K, h', w') probabilities."""
        up = F.interpolate(probs[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        if self.num_classes == 2:
            fg = up[1].numpy()
            return postprocess_binary(fg, self.threshold, self.min_area), float(probs[1].max())
        return up.argmax(0).numpy().astype(np.uint8), float("nan")

    def predict_masks(
        self,
        inputs: Iterable,
        *,
        batch_size: int = 8,
        tta: bool | str = False,
        workers: int = 0,
        progress: bool = False,
    ) -> tuple[list[np.ndarray | None], list[str], list[float]]:
        """Class-index masks (uint8, each image's original size), errors ("" if fine), and per
        image the largest foreground probability (binary; NaN otherwise)."""
        mode = _tta_mode(tta)
        items = _as_items(inputs)
        ds = _ImagesDataset(items, self.transform, self.meta["in_chans"], self.meta["img_size"])
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers)
        masks: list[np.ndarray | None] = []
        errors: list[str] = []
        max_prob: list[float] = []
        batches = loader
        if progress:
            from rich.progress import track

            batches = track(loader, description="predicting", total=len(loader), transient=True)
        for x, hs, ws, errs in batches:
            probs = self._probs(x, mode)
            for j in range(len(x)):
                if errs[j]:
                    masks.append(None)
                    errors.append(errs[j])
                    max_prob.append(float("nan"))
                    continue
                m, mp = self._to_mask(probs[j], int(hs[j]), int(ws[j]))
                masks.append(m)
                errors.append("")
                max_prob.append(mp)
        return masks, errors, max_prob

    def predict(
        self,
        inputs: Iterable,
        *,
        masks_dir: str | Path | None = None,
        overlays_dir: str | Path | None = None,
        batch_size: int = 8,
        tta: bool | str = False,
        workers: int = 0,
        keep_masks: bool = False,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Predict masks and return the RLE table in the training data's format.

        Binary: columns `<id_col>, <rle_col>` (ImageId, EncodedPixels by default), one row per
        image, the id being the file name without extension (with it when the training CSV's
        ids had one). Multi-class: `<id_col>, ClassId, <rle_col>`, one row per image and
        foreground class. An unreadable input gets an empty mask and its reason in an `error`
        column. With `masks_dir`, writes `<stem>.png` per image (0/255 for binary, class indices
        otherwise); with `overlays_dir`, the image with its mask drawn over it.
        """
        items = _as_items(inputs)
        names = [_stem(x, i) for i, x in enumerate(items)]
        for folder in (masks_dir, overlays_dir):
            if folder is not None:
                _prepare_out_dir(Path(folder), names)
        masks, errors, max_prob = self.predict_masks(
            items, batch_size=batch_size, tta=tta, workers=workers, progress=progress
        )
        info = self.rle
        rows = []
        for i, (item, mask, err) in enumerate(zip(items, masks, errors, strict=True)):
            image_id = _image_id(item, i, info.id_with_ext)
            if mask is not None and masks_dir is not None:
                out = mask * 255 if self.num_classes == 2 else mask
                _write_png(Path(masks_dir) / f"{names[i]}.png", out.astype(np.uint8))
            if mask is not None and overlays_dir is not None:
                _write_png(Path(overlays_dir) / f"{names[i]}.png", _overlay(item, mask))
            classes = [1] if self.num_classes == 2 else list(range(1, self.num_classes))
            for c in classes:
                rle = (
                    info.empty
                    if mask is None
                    else rle_encode(mask == c, fmt=info.fmt, order=info.order, empty=info.empty)
                )
                row = {info.id_col: image_id}
                if self.num_classes > 2:
                    row["ClassId"] = c
                row[info.rle_col] = rle
                if any(errors):
                    row["error"] = err
                rows.append(row)
        self.last_masks = masks if keep_masks else []
        self.last_max_prob = max_prob
        return pd.DataFrame(rows)


def score_predictions(
    predictor: SegPredictor,
    items: Sequence,
    masks: Sequence[np.ndarray | None],
    truth: str | Path,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Score predicted masks against true ones: an RLE CSV in the run's format (its id and RLE
    columns; ids matched by file name without extension) or a folder of mask files
    (`<stem><mask suffix>.*`, read with the run's mask convention).

    Returns the metrics of tasks/seg_metrics.py and one row per scored image. Inputs without a
    true mask are left out and counted in `unmatched`.
    """
    truth = Path(truth)
    info, k = predictor.rle, predictor.num_classes
    if truth.is_file():
        raw = pd.read_csv(truth, dtype=str, keep_default_na=False)
        raw.columns = [c.strip() for c in raw.columns]
        for col in (info.id_col, info.rle_col):
            if col not in raw.columns:
                raise DataError(
                    f"column {col!r} not in {truth.name} (columns: {', '.join(raw.columns)}); "
                    "the truth CSV must use the training data's columns"
                )
        if k != 2:
            raise DataError("--truth CSV scoring is for binary runs; give a folder of masks")
        rows: dict[str, list[str]] = {}
        for image_id, rle in zip(raw[info.id_col].str.strip(), raw[info.rle_col], strict=True):
            rows.setdefault(_strip_ext(image_id), []).append(rle)

        def true_mask(stem: str, shape) -> np.ndarray | None:
            if stem not in rows:
                return None
            return rle_decode_rows(
                rows[stem], shape, fmt=info.fmt, order=info.order, where=f"{truth.name} {stem}"
            )

    elif truth.is_dir():
        from visionfit.data.io import is_image_file
        from visionfit.data.masks import read_mask

        suffix = predictor.meta.get("mask_suffix", "")
        files = {
            p.stem.removesuffix(suffix) if suffix else p.stem: p
            for p in sorted(truth.rglob("*"))
            if p.is_file() and is_image_file(p)
        }
        spec = predictor.spec or MaskSpec(k)

        def true_mask(stem: str, shape) -> np.ndarray | None:
            return read_mask(files[stem], spec) if stem in files else None

    else:
        raise DataError(f"truth not found: {truth} (an RLE CSV or a folder of masks)")

    stats, table, correct, pixels, max_prob = [], [], 0, 0, []
    probs = predictor.last_max_prob if len(predictor.last_max_prob) == len(masks) else None
    for i, (item, mask) in enumerate(zip(items, masks, strict=True)):
        stem = _stem(item, i)
        if mask is None:
            continue
        t = true_mask(stem, mask.shape)
        if t is None:
            continue
        if t.shape != mask.shape:
            raise DataError(f"true mask of {stem} is {t.shape[::-1]}, the image {mask.shape[::-1]}")
        s = image_stats(torch.from_numpy(mask)[None], torch.from_numpy(t)[None], k)
        stats.append(s)
        correct += int((mask == t).sum())
        pixels += t.size
        if probs is not None:
            max_prob.append(probs[i])
        table.append(
            {
                "image": str(item),
                "dice": float(per_image_dice(s)[0].mean()),
                "iou": float(per_image_iou(s)[0].mean()),
                "pred_pixels": int(s[0, :, 1].sum()),
                "true_pixels": int(s[0, :, 2].sum()),
            }
        )
    if not stats:
        raise DataError(f"no predicted image has a true mask in {truth} (matched by file stem)")
    scores = summarise(
        np.concatenate(stats),
        correct,
        pixels,
        predictor.classes,
        np.asarray(max_prob) if (k == 2 and probs is not None) else None,
    )
    scores["scored"] = float(len(stats))
    scores["unmatched"] = float(sum(m is not None for m in masks) - len(stats))
    return scores, pd.DataFrame(table)


def _strip_ext(name: str) -> str:
    from visionfit.data.io import is_image_file

    return Path(name).stem if is_image_file(name) else Path(name).name


def _tta_mode(tta: bool | str) -> str:
    if tta is True:
        return "hflip"
    if tta is False or tta is None:
        return "none"
    if tta not in TTA_MODES:
        raise DataError(f"unknown TTA mode {tta!r}; choose from {', '.join(TTA_MODES)}")
    return str(tta)


def _as_items(inputs) -> list:
    if isinstance(inputs, (str, Path, Image.Image, np.ndarray)):
        return [inputs]
    return list(inputs)


def _stem(item, i: int) -> str:
    return Path(item).stem if isinstance(item, (str, Path)) else f"input_{i:05d}"


def _image_id(item, i: int, with_ext: bool) -> str:
    if isinstance(item, (str, Path)):
        return Path(item).name if with_ext else Path(item).stem
    return f"input_{i:05d}"


def _prepare_out_dir(folder: Path, names: list[str]) -> None:
    """Refuse to overwrite: the folder must be new or empty, and output names unique."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    dup = [n for n, c in seen.items() if c > 1]
    if dup:
        raise DataError(
            f"{len(dup)} input names occur twice (e.g. {dup[0]!r}); mask files are named after "
            "the input file name, so give inputs with distinct names"
        )
    if folder.exists() and any(folder.iterdir()):
        raise DataError(f"{folder} is not empty; choose a new folder (files are never overwritten)")
    folder.mkdir(parents=True, exist_ok=True)


def _write_png(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


_PALETTE = np.array(
    [
        [0, 0, 0],
        [255, 40, 40],
        [40, 200, 60],
        [50, 120, 255],
        [255, 200, 0],
        [200, 60, 255],
        [0, 220, 220],
        [255, 120, 180],
    ],
    dtype=np.float32,
)


def _overlay(item, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image (RGB) with each foreground class tinted in its own colour."""
    img = decode_image(item, in_chans=3).astype(np.float32)
    colours = _PALETTE[np.minimum(mask, len(_PALETTE) - 1)]
    colours[mask >= len(_PALETTE)] = _PALETTE[-1]
    fg = (mask > 0)[:, :, None]
    out = np.where(fg, (1 - alpha) * img + alpha * colours, img)
    return np.clip(out, 0, 255).astype(np.uint8)
