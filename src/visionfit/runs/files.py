"""The files of a run directory: their names, and the one reader and writer of each.

A run directory is self-sufficient: `config.yaml` (the resolved config), `classes.json`,
`splits.csv` (a hold-out run: image, label, split) or `folds.csv` (a CV run: image, label,
fold[, group]), `augment.yaml` (the training augmentation, an albumentations pipeline),
`skipped.csv` (files left out, with the reason), `test.csv` (a CV run's test rows),
`summary.json` (see runs/summary.py) and `model.json` (the bundle's metadata; the weights beside
it are inference/bundle.py's). Everything else asks this module for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from visionfit.errors import RunError, VisionfitError
from visionfit.fileio import (
    UnreadableFileError,
    atomic_write_csv,
    atomic_write_text,
    create_exclusive,
    json_safe,
    read_regular_text,
)
from visionfit.text import clip

CONFIG = "config.yaml"
CLASSES = "classes.json"
AUGMENT = "augment.yaml"
SPLITS = "splits.csv"
FOLDS = "folds.csv"
SKIPPED = "skipped.csv"
TEST = "test.csv"
SUMMARY = "summary.json"
MODEL_META = "model.json"
WEIGHTS = "model.safetensors"
# what training writes beside them (their writers: the engine's epoch logger, a task's CV and
# test scoring, the report); named here so that every reader asks for the same file
METRICS = "metrics.csv"
CURVES = "curves.png"
OOF = "oof.csv"
# a single run's validation images predicted by its best model (classification, regression)
VAL_PREDICTIONS = "val_predictions.csv"
CV_SUMMARY = "cv_summary.csv"
TEST_SCORES = "test_scores.json"
REPORT = "report.html"
# the model card (reports/model_card.py; the Hugging Face layout, written when a run finishes)
MODEL_CARD = "MODEL_CARD.md"
# validation (or out-of-fold) images with a near-duplicate in their training images, as pairs
# (data/neardup.py's columns; engine/leakage.py writes it, only when there are any)
NEAR_DUPLICATES = "near_duplicates.csv"
# a K-fold run's fold_<k>/ (and refit/): what its training gave, written last (it says the fold
# finished; `--resume` keeps such a fold), and its out-of-fold values (exact, as trained)
FOLD_RECORD = "fold.json"
FOLD_VALUES = "val_values.npy"
# `visionfit audit`'s folder inside the run (audit, audit-2, ...) and its files (reports/audit.py)
AUDIT_DIR = "audit"
ISSUES_CSV = "label_issues.csv"
ISSUES_PNG = "label_issues.png"
# the files a tracking server (MLflow) receives as the run's artifacts
ARTIFACTS = (WEIGHTS, MODEL_META, CONFIG, CLASSES, SPLITS, METRICS, SUMMARY)

SKIPPED_COLUMNS = ["image", "label", "reason", "detail"]


# a run's JSON and YAML files are KiBs (a model.json with 100,000 class names about 2 MiB)
MAX_RUN_FILE_BYTES = 64 << 20


def path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / name


def read_text(p: Path) -> str:
    """A run directory's text file, bounded (`fileio.read_regular_text`: a regular file of at most
    MAX_RUN_FILE_BYTES); RunError naming the file when it cannot be read."""
    try:
        return read_regular_text(p, max_bytes=MAX_RUN_FILE_BYTES)
    except UnreadableFileError as e:
        raise RunError(f"cannot read {e}: restore the file or retrain") from None


def read_json(p: Path) -> object:
    """A run directory's JSON file (`read_text`); RunError when it is not valid JSON."""
    text = read_text(p)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise RunError(f"{p} is not valid JSON: {clip(str(e), 120)}") from None


# ---- config.yaml ---------------------------------------------------------------------------


def write_config(run_dir: str | Path, cfg) -> None:
    """`cfg`: a RunConfig / BaselineConfig (anything with `to_yaml()`), or the YAML text."""
    text = cfg if isinstance(cfg, str) else cfg.to_yaml()
    atomic_write_text(path(run_dir, CONFIG), text)


def has_config(run_dir: str | Path) -> bool:
    return path(run_dir, CONFIG).is_file()


def read_config(run_dir: str | Path):
    """The run's config.yaml as a RunConfig (validated)."""
    from visionfit.config import RunConfig

    p = path(run_dir, CONFIG)
    if not p.is_file():
        raise RunError(f"{Path(run_dir)} has no {CONFIG}: it is not a visionfit run")
    return RunConfig.from_yaml(p)


def read_config_dict(run_dir: str | Path) -> dict:
    """config.yaml as plain data ({} when missing or unreadable): for tables and reports, which
    show any run, a baseline's config included."""
    from visionfit.config import load_yaml_text

    try:
        found = load_yaml_text(read_text(path(run_dir, CONFIG)))
    except VisionfitError:
        return {}
    return found if isinstance(found, dict) else {}


# ---- augment.yaml --------------------------------------------------------------------------


def write_augment(run_dir: str | Path, cfg) -> None:
    """augment.yaml: the training augmentation `cfg` resolves to (its preset or file, --vflip,
    --rot90) in albumentations' own format. Written once, never overwritten: a resumed run
    keeps the one it started with (and trains with it, `read_augment`)."""
    aug = getattr(cfg, "augment", None)
    p = path(run_dir, AUGMENT)
    if aug is None or os.path.lexists(p):
        return
    from visionfit.data.augment import run_augment_text

    create_exclusive(p, run_augment_text(aug), flag="--name")


def with_run_augment(run_dir: str | Path, cfg):
    """`cfg` (the run's config, being resumed) training with the run's own augment.yaml, which
    holds --vflip/--rot90 already: a resumed run repeats its augmentation even when the file
    it was started with has changed or is gone. `cfg` itself when the run has no augment.yaml."""
    p = path(run_dir, AUGMENT)
    if not p.is_file():
        return cfg
    return cfg.with_overrides(
        {"augment.preset": str(p), "augment.vflip": False, "augment.rot90": False}
    )


def read_augment(run_dir: str | Path):
    """The run's augment.yaml as an albumentations Compose, or None when the run has none (a run
    from before it was written); RunError when it cannot be read or built."""
    p = path(run_dir, AUGMENT)
    if not p.is_file():
        return None
    from visionfit.data.augment import read_augment_text

    try:
        return read_augment_text(read_text(p), str(p))
    except VisionfitError as e:
        raise RunError(f"{e}: restore the file or retrain") from None


# ---- classes.json --------------------------------------------------------------------------


def write_classes(run_dir: str | Path, classes: list) -> None:
    atomic_write_text(path(run_dir, CLASSES), json.dumps(list(classes), indent=2))


def read_classes(run_dir: str | Path) -> list[str] | None:
    """classes.json, or None when the run has none; RunError when it is damaged."""
    p = path(run_dir, CLASSES)
    if not p.is_file():
        return None
    from visionfit.config.stored import check_classes

    return list(check_classes(read_json(p), str(p)))


# ---- the tables: splits.csv, folds.csv, skipped.csv, test.csv --------------------------------


def _write_table(run_dir: str | Path, name: str, df: pd.DataFrame) -> None:
    atomic_write_csv(path(run_dir, name), df)


def read_table(run_dir: str | Path, name: str, *, as_text: bool = True) -> pd.DataFrame | None:
    """One of the run's CSV tables, or None when it is missing or empty. `as_text` keeps every
    cell a string (paths and labels exactly as written); else pandas infers the types (reports)."""
    p = path(run_dir, name)
    if not p.is_file() or p.stat().st_size == 0:
        return None
    kw = (
        {"dtype": str, "keep_default_na": False}
        if as_text
        else {"keep_default_na": False, "na_values": [""]}
    )
    try:
        return pd.read_csv(p, encoding_errors="surrogateescape", **kw)
    except pd.errors.EmptyDataError:
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise RunError(f"{p} is damaged ({e})") from None


def write_splits(run_dir: str | Path, df: pd.DataFrame) -> None:
    _write_table(run_dir, SPLITS, df)


def read_splits(run_dir: str | Path) -> pd.DataFrame | None:
    return read_table(run_dir, SPLITS)


def write_folds(run_dir: str | Path, df: pd.DataFrame) -> None:
    _write_table(run_dir, FOLDS, df)


def read_folds(run_dir: str | Path) -> pd.DataFrame | None:
    return read_table(run_dir, FOLDS)


def write_skipped(run_dir: str | Path, df: pd.DataFrame) -> None:
    _write_table(run_dir, SKIPPED, df)


def read_skipped(run_dir: str | Path) -> pd.DataFrame:
    """skipped.csv (an empty table with its columns when the run skipped nothing)."""
    found = read_table(run_dir, SKIPPED)
    return pd.DataFrame(columns=SKIPPED_COLUMNS) if found is None else found


def write_test_table(run_dir: str | Path, df: pd.DataFrame) -> None:
    _write_table(run_dir, TEST, df)


def write_run_inputs(
    run_dir: str | Path,
    cfg,
    classes: list,
    skipped: pd.DataFrame,
    *,
    splits: pd.DataFrame | None = None,
    folds: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
) -> None:
    """What a run trains on, written before it trains: config.yaml, augment.yaml (a run that
    augments), classes.json, skipped.csv and splits.csv (hold-out) or folds.csv (CV; `test`: the
    rows set aside, when there are any)."""
    write_config(run_dir, cfg)
    write_augment(run_dir, cfg)
    write_classes(run_dir, classes)
    if folds is not None:
        write_folds(run_dir, folds)
    write_skipped(run_dir, skipped)
    if splits is not None:
        write_splits(run_dir, splits)
    if test is not None and len(test):
        write_test_table(run_dir, test)


def has_inputs(run_dir: str | Path) -> bool:
    """classes.json and splits.csv exist: a killed hold-out run can resume on them."""
    return path(run_dir, CLASSES).is_file() and path(run_dir, SPLITS).is_file()


# ---- fold.json + val_values.npy ------------------------------------------------------------


def write_fold_record(fold_dir: str | Path, record: dict, values=None) -> None:
    """A finished fold's record (JSON: best epoch, metrics, post-processing, final scores) and
    its validation values (an array, or None); the record is written last."""
    import numpy as np

    values_path = path(fold_dir, FOLD_VALUES)
    if values is not None:
        tmp = values_path.with_name(values_path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(values), allow_pickle=False)
        tmp.replace(values_path)
    record = {**record, "has_values": values is not None}
    atomic_write_text(path(fold_dir, FOLD_RECORD), json.dumps(record, indent=2))


def read_fold_record(fold_dir: str | Path):
    """(record, values or None) of a finished fold; RunError when either file is damaged."""
    import numpy as np

    p = path(fold_dir, FOLD_RECORD)
    try:
        record = json.loads(p.read_text())
        values = None
        if record.get("has_values"):
            values = np.load(path(fold_dir, FOLD_VALUES), allow_pickle=False)
    except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise RunError(
            f"{p} or {FOLD_VALUES} beside it is damaged ({e}); delete {p} and resume again "
            "to redo that fold's last step"
        ) from None
    if not isinstance(record, dict):
        raise RunError(f"{p} is damaged (not a JSON object)")
    return record, values


# ---- model.json ----------------------------------------------------------------------------


def write_model_meta(run_dir: str | Path, info: dict) -> None:
    """model.json: the JSON part of a bundle, an ensemble or a baseline (written last)."""
    atomic_write_text(path(run_dir, MODEL_META), json.dumps(json_safe(info), indent=2))


def read_model_meta(run_dir: str | Path) -> dict | None:
    """The run's top-level model.json, or None when there is none; RunError when damaged."""
    p = path(run_dir, MODEL_META)
    if not p.is_file():
        return None
    found = read_json(p)
    if not isinstance(found, dict):
        raise RunError(f"{p} is not a visionfit model description")
    from visionfit.config.stored import check_model_meta  # pydantic: imported when needed

    check_model_meta(found, str(p))
    return found


def has_bundle(run_dir: str | Path) -> bool:
    return path(run_dir, MODEL_META).is_file() and path(run_dir, WEIGHTS).is_file()
