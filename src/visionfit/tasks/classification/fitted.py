"""What a classification run fits after training, on the best model's validation
probabilities: the calibration (ECE; with --calibrate temperature, the temperature), then the
decision threshold (binary / multi-label), and val_predictions.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from visionfit.runs import files as run_files
from visionfit.tasks.base import AfterTraining, Fitted
from visionfit.tasks.classification.targets import split_targets


def fit_postprocessing(args: AfterTraining) -> Fitted:
    """The calibration (ECE; with --calibrate temperature, the temperature) and then the
    decision threshold (binary / multi-label), both on the best model's validation
    probabilities; the threshold on the calibrated ones, as predict gives them. With no
    validation data, the given ones (a refit: the CV's). `val_probs` are the network's own
    (before temperature scaling), as a CV pools them to fit its own temperature."""
    from visionfit.tasks.classification.calibration import (
        apply_temperature,
        calibration_summary,
    )
    from visionfit.tasks.classification.scoring import choose_threshold, score

    cfg, data, val_loader, val_df = args.cfg, args.data, args.val_loader, args.val_df
    mode = data.label_mode
    given = dict(args.post or {})
    threshold = given.get("threshold")
    if val_loader is None:
        if mode in ("binary", "multilabel") and threshold is None:
            threshold = choose_threshold(mode, "0.5", None, np.zeros((0, len(data.classes))))
        kept = {k: given[k] for k in ("temperature",) if k in given}
        return Fitted(post={"threshold": threshold, **kept})
    batches = args.trainer.predict(args.module, val_loader)
    probs = torch.cat(batches).cpu().numpy().astype(np.float64)
    y = split_targets(val_df, mode)
    calibration = calibration_summary(probs, y, mode, cfg.train.calibrate)
    calibrated = apply_temperature(probs, mode, calibration.get("temperature"))
    threshold = choose_threshold(mode, cfg.train.threshold, y, calibrated)
    _write_val_predictions(args.out_dir, val_df, data.classes, mode, calibrated, threshold)
    extra = {f"val_{k}": calibration[k] for k in ("ece", "ece_calibrated") if k in calibration}
    if mode == "multilabel":  # per-label AUC (scikit-learn)
        scores = score(mode, data.classes, y, probs)
        extra.update({k: v for k, v in scores.items() if k.startswith("val_auroc_")})
    post = {"threshold": threshold, "calibration": calibration}
    if "temperature" in calibration:
        post["temperature"] = calibration["temperature"]
    return Fitted(post=post, val_probs=probs, extra_metrics=extra)


def _write_val_predictions(out_dir: Path, val_df, classes, mode, probs, threshold) -> None:
    """val_predictions.csv: the best model's validation probabilities (image, label, pred,
    prob_<class>...: oof.csv's columns without the fold), what the interval and audits read."""
    from visionfit.runs.rundir import atomic_write_csv
    from visionfit.tasks.classification.cvreport import oof_frame

    fold = np.zeros(len(val_df), int)
    table = oof_frame(val_df["image"], val_df["label"], fold, classes, mode, probs, threshold)
    atomic_write_csv(Path(out_dir) / run_files.VAL_PREDICTIONS, table.drop(columns="fold"))
