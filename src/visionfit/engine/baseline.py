"""The classical baseline: scikit-learn on resized pixels or HOG features, on the same folds.

Images are decoded with the shared decoder, resized to ``size`` x ``size`` and turned into
features (flattened pixels in 0..1, or scikit-image's HOG), then each fold fits
``StandardScaler -> [PCA] -> classifier`` on the other folds and predicts its own images. Folds
run in parallel (joblib). The run directory has what a network's CV run has: config.yaml,
classes.json, folds.csv, oof.csv, cv_summary.csv and summary.json (``"kind": "baseline"``), and
its fitted pipelines as skops files with a model.json (see baseline_store), so that
``visionfit.load(run_dir)`` predicts with the fold ensemble (baseline_predict).

>>> from visionfit.config import BaselineConfig
>>> result = run_baseline(BaselineConfig.from_dict({"data": {"path": "data/"}, "model": "svm"}))
>>> result.scores.headline()
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from visionfit.config import BaselineConfig, RunConfig
from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image
from visionfit.data.splits import split_test, without_test
from visionfit.engine.foldplan import assign_folds
from visionfit.engine.hooks import run_finished
from visionfit.errors import DataError
from visionfit.fileio import json_safe
from visionfit.inference.baseline_store import (
    MODEL_FILE,
    REFIT_MEMBER,
    save_pipeline,
    write_baseline_meta,
)
from visionfit.runs import files as run_files
from visionfit.runs.rundir import create_run_dir
from visionfit.runs.summary import RunSummary, write_summary
from visionfit.tasks.classification.cvreport import (
    CVScores,
    oof_frame,
    score_folds,
    write_cv_outputs,
)
from visionfit.tasks.classification.scoring import check_threshold_option
from visionfit.tasks.classification.targets import (
    default_threshold,
    hard_targets,
    split_targets,
)
from visionfit.tasks.registry import get_task

BASELINE_MODELS = ("rf", "svm", "logreg", "knn")


@dataclass
class BaselineResult:
    run_dir: Path
    task: str
    classes: list[str]
    folds: int
    fold_kind: str
    scores: CVScores
    n_samples: int
    n_features: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def create_estimator(
    cfg: BaselineConfig, task: str, n_features: int, n_samples: int, calibration_folds: int = 5
):
    """StandardScaler -> optional PCA -> the classifier, as one scikit-learn pipeline."""
    weights = "balanced" if cfg.class_weights == "auto" else None
    if cfg.model == "rf":
        clf = RandomForestClassifier(
            n_estimators=300, n_jobs=1, random_state=cfg.seed, class_weight=weights
        )
    elif cfg.model == "svm":  # Platt-scaled probabilities from an internal cross-validation
        clf = CalibratedClassifierCV(
            SVC(random_state=cfg.seed, class_weight=weights),
            method="sigmoid",
            cv=calibration_folds,
            ensemble=False,
        )
    elif cfg.model == "logreg":
        clf = LogisticRegression(max_iter=2000, C=0.1, class_weight=weights)
    elif cfg.model == "knn":
        clf = KNeighborsClassifier(n_neighbors=min(10, max(1, n_samples // 10)), weights="distance")
    else:
        raise DataError(f"unknown baseline --model {cfg.model!r}; choose from {BASELINE_MODELS}")
    if task == "multilabel":
        clf = MultiOutputClassifier(clf)
    steps = [StandardScaler()]
    if cfg.pca:
        steps.append(PCA(n_components=min(cfg.pca, n_features, n_samples), random_state=cfg.seed))
    return make_pipeline(*steps, clf)


def resized_image(
    source, size: int, in_chans: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode with the shared decoder and resize to size x size (HxWxC uint8)."""
    arr = decode_image(source, in_chans=in_chans, max_pixels=max_pixels)
    arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA)
    return arr[:, :, None] if arr.ndim == 2 else arr


def array_features(arr: np.ndarray, features: str) -> np.ndarray:
    """A resized image's feature vector: flattened pixels in 0..1, or HOG."""
    if features == "pixels":
        return (arr.astype(np.float32) / 255.0).reshape(-1)
    from skimage.feature import hog

    cell = max(4, arr.shape[0] // 8)
    return hog(
        arr,
        orientations=9,
        pixels_per_cell=(cell, cell),
        cells_per_block=(2, 2),
        channel_axis=-1,
        feature_vector=True,
    ).astype(np.float32)


def image_features(
    path, size: int, features: str, in_chans: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """One image's feature vector: flattened resized pixels in 0..1, or HOG."""
    return array_features(resized_image(path, size, in_chans, max_pixels), features)


def extract_features(paths: list[str], cfg: BaselineConfig, progress: bool = True) -> np.ndarray:
    """The (N, D) feature matrix; unreadable images are reported, not skipped silently."""
    chunks = [paths[i : i + 64] for i in range(0, len(paths), 64)]

    def work(chunk):
        rows, bad = [], []
        for p in chunk:
            try:
                rows.append(
                    image_features(
                        p, cfg.size, cfg.features, cfg.data.in_chans, cfg.data.max_pixels
                    )
                )
            except ImageDecodeError as e:
                rows.append(None)
                bad.append(f"{p} ({e.reason})")
        return rows, bad

    out, bad = [], []
    # Threads: decoding, resizing and HOG run in C; worker processes would re-import torch.
    parallel = Parallel(n_jobs=cfg.n_jobs, prefer="threads", return_as="generator")
    with _progress(progress) as bar:
        task = bar.add_task(f"{cfg.features} features", total=len(paths))
        for rows, b in parallel(delayed(work)(c) for c in chunks):
            out.extend(rows)
            bad.extend(b)
            bar.advance(task, len(rows))
    if bad:
        raise DataError(
            f"{len(bad)} images cannot be read, e.g. {bad[0]}: fix or remove them "
            "(visionfit check lists them)"
        )
    return np.stack(out)


def pipeline_proba(pipeline, x: np.ndarray, task: str, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities from a fitted pipeline, in the run's class order."""
    raw = pipeline.predict_proba(x)
    clf = pipeline[-1]
    probs = np.zeros((len(x), n_classes))
    if task == "multilabel":
        for j, (est, p) in enumerate(zip(clf.estimators_, raw, strict=True)):
            cls = list(est.classes_)
            probs[:, j] = p[:, cls.index(1)] if 1 in cls else 0.0
        return probs
    # A class missing from this fold's training part has no column: give it probability 0.
    probs[:, clf.classes_.astype(int)] = raw
    return probs


def _fit_fold(cfg: BaselineConfig, x, y, train_idx, val_idx, task: str, n_classes: int, path):
    """Fit on the other folds, save the pipeline to `path`, return (val_idx, its probabilities).

    The estimator is built here, so that once saved no fitted forest outlives its job."""
    calibration = _calibration_folds(y[train_idx])
    estimator = create_estimator(cfg, task, x.shape[1], len(train_idx), calibration)
    estimator.fit(x[train_idx], y[train_idx])
    save_pipeline(path, estimator, cfg.model)
    if not len(val_idx):  # the refit pipeline holds nothing out
        return val_idx, np.zeros((0, n_classes))
    return val_idx, pipeline_proba(estimator, x[val_idx], task, n_classes)


def _fit_folds(cfg: BaselineConfig, x, y_fit, fold, task, n_classes, run_dir, progress):
    """Every fold's out-of-fold probabilities; fold_<k>/model.skops; refit/ when asked."""
    n_folds = int(fold.max()) + 1
    fit = delayed(_fit_fold)
    jobs = [
        fit(
            cfg,
            x,
            y_fit,
            np.flatnonzero(fold != k),
            np.flatnonzero(fold == k),
            task,
            n_classes,
            run_dir / f"fold_{k}" / MODEL_FILE,
        )
        for k in range(n_folds)
    ]
    if cfg.cv.refit:  # one pipeline on every image
        everything = np.arange(len(x))
        path = run_dir / REFIT_MEMBER / MODEL_FILE
        jobs.append(fit(cfg, x, y_fit, everything, everything[:0], task, n_classes, path))
    oof_probs = np.full((len(x), n_classes), np.nan)
    n_jobs = min(cfg.n_jobs, len(jobs)) if cfg.n_jobs > 0 else cfg.n_jobs
    # Threads: scikit-learn's fitting code releases the GIL, and x is shared, not copied.
    parallel = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator_unordered")
    with _progress(progress) as bar:
        extra = " and on all images" if cfg.cv.refit else ""
        ptask = bar.add_task(f"fitting {cfg.model} on {n_folds} folds{extra}", total=len(jobs))
        for val_idx, probs in parallel(jobs):
            oof_probs[val_idx] = probs
            bar.advance(ptask)
    return oof_probs


def _write_model_meta(run_dir: Path, cfg: BaselineConfig, classes, n_features, n_folds, scores):
    """model.json: what visionfit.load needs to predict (and refit/model.json with cv.refit)."""
    info = {
        "task": cfg.data.task,
        "classes": classes,
        "model": cfg.model,
        "features": cfg.features,
        "size": cfg.size,
        "pca": cfg.pca,
        "in_chans": cfg.data.in_chans,
        "max_pixels": cfg.data.max_pixels,
        "n_features": n_features,
        # arg-max tasks keep the key (as network runs do); predict ignores it for them
        "threshold": 0.5 if scores.threshold is None else scores.threshold,
        "threshold_method": cfg.threshold,
        "refit": REFIT_MEMBER if cfg.cv.refit else None,
    }
    write_baseline_meta(run_dir, [f"fold_{k}" for k in range(n_folds)], json_safe(info))
    if cfg.cv.refit:
        write_baseline_meta(run_dir / REFIT_MEMBER, ["."], json_safe({**info, "refit": None}))


def run_baseline(cfg: BaselineConfig, *, progress: bool = True) -> BaselineResult:
    """Cross-validate a scikit-learn classifier on image features and write its run directory."""
    t_start = time.perf_counter()
    console = Console(stderr=True, quiet=not progress)
    # assign_folds reads the fold options and seed from a RunConfig
    run_cfg = RunConfig(data=cfg.data, cv=cfg.cv).with_overrides({"train.seed": cfg.seed})
    # The same reading and scan as the networks: unusable files are listed in skipped.csv.
    classification = get_task("classification")
    samples = classification.load_data(run_cfg, progress=progress)
    # The same test split as the networks' (same rows, order and seed): never fitted or scored.
    samples.df = without_test(
        split_test(samples.df, cfg.data.test_fraction, cfg.seed, classification.stratify(samples))
    ).reset_index(drop=True)
    task = samples.label_mode
    threshold = check_threshold_option(cfg.threshold)
    if threshold == "auto":
        threshold = default_threshold(task)
    folds, kind = assign_folds(samples, run_cfg)
    n_folds = int(folds["fold"].max()) + 1
    cfg = cfg.model_copy(deep=True)  # config.yaml states what ran: no "auto" left
    cfg.data.task = task
    cfg.cv.folds = n_folds
    cfg.cv.kind = kind if kind != "file" else cfg.cv.kind
    cfg.threshold = threshold
    df = samples.df.reset_index(drop=True)

    # Features first: an unreadable image stops the run before its directory exists.
    x = extract_features(df["image"].tolist(), cfg, progress)
    run_dir = create_run_dir(cfg.runs_dir, cfg.name or f"baseline-{cfg.model}")
    run_files.write_run_inputs(run_dir, cfg, samples.classes, samples.skipped, folds=folds)
    targets = split_targets(df, task)
    y_fit = hard_targets(targets, task)
    fold = folds["fold"].to_numpy()
    n_classes = len(samples.classes)
    console.print(
        f"{cfg.model} on {x.shape[1]} {cfg.features} features"
        + (f" -> PCA {cfg.pca}" if cfg.pca else "")
        + f", {len(df)} images, {n_folds} folds"
    )
    oof_probs = _fit_folds(cfg, x, y_fit, fold, task, n_classes, run_dir, progress)
    scores = score_folds(task, samples.classes, targets, oof_probs, fold, threshold)
    oof = oof_frame(
        df["image"], df["label"], fold, samples.classes, task, oof_probs, scores.threshold
    )
    write_cv_outputs(run_dir, oof, scores)
    _write_model_meta(run_dir, cfg, samples.classes, int(x.shape[1]), n_folds, scores)
    seconds = time.perf_counter() - t_start
    _write_summary(run_dir, cfg, samples, kind, int(x.shape[1]), scores, seconds)
    run_finished(run_dir, samples.notes)
    return BaselineResult(
        run_dir=run_dir,
        task=task,
        classes=samples.classes,
        folds=n_folds,
        fold_kind=kind,
        scores=scores,
        n_samples=len(df),
        n_features=int(x.shape[1]),
        seconds=seconds,
        notes=samples.notes,
    )


def _write_summary(run_dir: Path, cfg: BaselineConfig, samples, kind, n_features, scores, seconds):
    summary = RunSummary.of(
        "baseline",
        run_dir=str(run_dir),
        task=cfg.data.task,
        classes=samples.classes,
        model_name=str(cfg.model),
        model=cfg.model,
        features=cfg.features,
        size=cfg.size,
        pca=cfg.pca,
        n_features=n_features,
        folds=cfg.cv.folds,
        fold_kind=kind,
        folds_file=cfg.cv.folds_file,
        refit=cfg.cv.refit,
        n_samples=len(samples.df),
        **scores.to_json(),
        seconds=seconds,
        skipped_files=len(samples.skipped),
        ignored_files=samples.ignored_files,
        notes=samples.notes,
    )
    write_summary(run_dir, summary)


def _calibration_folds(y: np.ndarray) -> int:
    """SVM calibration folds: 5, fewer when the rarest class (or label value) has fewer images."""
    y = y.reshape(len(y), -1)
    smallest = min(int(np.bincount(y[:, j]).min()) for j in range(y.shape[1]))
    return max(2, min(5, smallest))


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, quiet=not enabled),
        transient=False,
    )
