"""Classification targets as the dataset and the scorers take them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.data.labels import stack_targets
from visionfit.errors import DataError
from visionfit.text import plural


def split_targets(df: pd.DataFrame, label_mode: str) -> np.ndarray:
    """Training targets of a samples table (or slice): class indices, or (N, C) float vectors."""
    if label_mode in ("multilabel", "soft"):
        return stack_targets(df)
    return df["target"].to_numpy()


def default_threshold(label_mode: str) -> str:
    """`threshold: auto`: max-F1 per label for multi-label data, 0.5 otherwise."""
    return "f1" if label_mode == "multilabel" else "0.5"


def hard_targets(targets: np.ndarray, label_mode: str) -> np.ndarray:
    """Targets an estimator that takes hard labels fits (the scikit-learn baseline): the arg-max
    class of soft labels, 0/1 columns for multi-label, class indices otherwise."""
    if label_mode == "soft":
        return targets.argmax(axis=1)
    return targets.round().astype(int) if label_mode == "multilabel" else targets


def split_class_problems(df, classes: list[str], given: bool) -> list[str]:
    """Classes the train / val split leaves without images: a DataError for no training image,
    or no validation image in a drawn split; notes for a class absent from a given val split."""
    train = df.loc[df["split"] == "train", "label"].value_counts()
    val = df.loc[df["split"] == "val", "label"].value_counts()
    no_train = [c for c in classes if train.get(c, 0) == 0]
    if no_train:
        raise DataError(
            f"class(es) with no training image: {', '.join(no_train[:10])} (the train split "
            "has none of their images): add images of them, or leave them out of the data"
        )
    no_val = [c for c in classes if val.get(c, 0) == 0]
    if not no_val or val.sum() == 0:
        return []  # no validation split at all: nothing is scored on one
    if not given:
        counts = ", ".join(f"{c} ({plural(int(train.get(c, 0)), 'image')})" for c in no_val[:10])
        raise DataError(
            f"class(es) with no validation image: {counts}; the drawn hold-out split took none "
            "of their images, so their scores would be undefined: add images (at least 2 per "
            "class, more for a small --val-fraction) or give a split (train/ and val/ folders, "
            "--split-col)"
        )
    return [
        f"class(es) absent from the given val split: {', '.join(no_val[:10])}; their "
        "per-class validation scores (AUROC, ...) are undefined (n/a)"
    ]


def drawn_split_problems(usable, classes: list[str], data_cfg, seed: int) -> list[str]:
    """`split_class_problems` of the split `train` draws from the usable rows (same fractions,
    seed and stratification), for `visionfit check`."""
    import warnings

    from visionfit.data.splits import holdout_split

    given = bool((usable["split"] == "val").any())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = holdout_split(usable, data_cfg.val_fraction, seed, "target", data_cfg.test_fraction)
    return split_class_problems(df, classes, given)
