"""Reading a regression dataset: a CSV of image paths and a numeric column.

The target column is read first with the one user-CSV reader (visionfit.usercsv) and checked
here: every row a finite number (the error names the lines), not one value for all. Only then
are the samples built by data/sources.py (paths, missing files, --split-col / --group-col) and
scanned (data/check.py), so that no classification rule (two classes at least) is met.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from visionfit.errors import DataError
from visionfit.tasks.base import CheckInput, TaskData
from visionfit.tasks.regression.targets import parse_targets, quantile_bins, target_stats

SKIPPED_COLUMNS = ["image", "label", "reason", "detail"]


def check_options(dc) -> None:
    if not dc.csv:
        raise DataError(
            "--task regress reads a CSV: --csv FILE --label-col COLUMN (a number per image)"
        )
    if dc.label_cols or dc.label_delim is not None:
        raise DataError(
            "--label-cols / --label-delim are for classification; --task regress "
            "reads one numeric --label-col"
        )


def read_targets(dc) -> np.ndarray:
    """Every row's target, as float32; a DataError for a row without a finite number, or for
    a column with a single value (nothing to regress on)."""
    from visionfit.usercsv import read_user_csv

    table = read_user_csv(
        dc.csv, required=[(dc.image_col, "--image-col"), (dc.label_col, "--label-col")]
    )
    labels = table.df[dc.label_col]
    values = parse_targets(labels, [i + 2 for i in range(len(labels))], dc.label_col)
    if len(values) > 1 and np.ptp(values) == 0:
        raise DataError(
            f"every row of {dc.csv} has the same {dc.label_col!r} ({values[0]:g}): "
            "nothing to regress on"
        )
    return values


def _samples(dc, *, empty_labels: str = "error"):
    """data/sources.py's samples of the CSV, the target checked first, `value` added."""
    from visionfit.data.sources import load_samples

    check_options(dc)
    read_targets(dc)
    samples = load_samples(
        dc,
        missing_files="skip",
        empty_labels=empty_labels,
        report_conflicts=empty_labels == "skip",  # check reports them, train refuses
    )
    # the rows kept have been checked: their label text is a finite number
    values = pd.to_numeric(samples.df["label"].str.strip()).to_numpy(np.float32)
    return replace(samples, df=samples.df.assign(value=values), classes=[])


def load_regression_data(cfg, *, progress: bool, scan: bool = True) -> TaskData:
    """The samples table: image, label (the target's text), value (float), target (its quantile
    bin, to stratify on), split[, group]; unusable files left out (skipped.csv)."""
    from visionfit.data.check import drop_unusable

    dc = cfg.data
    samples = _samples(dc)
    if scan:
        usable = drop_unusable(samples, dc, progress=progress)
        kept, skipped = usable.samples.df, usable.skipped
        sha1 = {f.image: f.sha1 for f in usable.scan.files if f.ok}
        phash = {f.image: f.phash for f in usable.scan.files if f.ok}
        patient = usable.scan.patients()
    else:
        patient = {}
        kept, skipped, sha1 = samples.df, pd.DataFrame(columns=SKIPPED_COLUMNS), {}
        phash = {}
    if len(kept) > 1 and np.ptp(kept["value"].to_numpy()) == 0:
        raise DataError(
            f"the usable images of {dc.csv} all have the same {dc.label_col!r}: "
            "nothing to regress on"
        )
    return TaskData(
        df=with_bins(kept.reset_index(drop=True)),
        classes=[dc.label_col],
        layout="csv",
        label_mode="regress",
        skipped=skipped,
        notes=list(samples.notes),
        ignored_files=samples.ignored_files,
        sha1=sha1,
        phash=phash,
        patient=patient,
        strata_optional=True,  # bins are a convenience: too few per bin -> plain k-fold
    )


def check_samples(cfg) -> CheckInput:
    """What `visionfit check` scans, the target's summary as the task's section, and the
    target's problems (they stop training) as problems."""
    from visionfit.data.sources import load_samples

    dc = cfg.data
    problems, section = [], {}
    try:
        samples = _samples(dc, empty_labels="skip")
        section = {"target": dc.label_col, **target_stats(samples.df["value"])}
    except DataError as e:
        check_options(dc)  # without a CSV there is nothing to scan
        try:  # the files are scanned even so; the target's problem is listed
            samples = load_samples(
                dc, missing_files="skip", empty_labels="skip", report_conflicts=True
            )
        except DataError:
            raise e from None  # e.g. one value in every row: the target's message, not a scan's
        samples = replace(samples, classes=[])
        problems.append(str(e))
    return CheckInput(samples, section, problems, classes_required=False)


def with_bins(df):
    """`target`: the quantile bin of `value` (what data/splits.py and data/folds.py stratify
    on); `label` stays the CSV's text so folds.csv records the value."""
    df = df.copy()
    df["target"] = quantile_bins(df["value"].to_numpy(np.float64))
    return df
