"""Identical files (same content hash): duplicate groups, and groups that sit on both sides of
the split `train` uses (leakage); the near-duplicate section (data/neardup.py) is computed on the
same split."""

from __future__ import annotations

import warnings

import pandas as pd

from visionfit.config import DataConfig
from visionfit.data.dicom import patient_groups
from visionfit.data.neardup import check_section, with_near_duplicate_groups
from visionfit.data.scan import FileScan
from visionfit.data.sources import Samples
from visionfit.data.splits import holdout_split
from visionfit.errors import DataError


def duplicate_groups(good: list[FileScan], labels: dict[str, str]) -> list[dict]:
    """Groups of identical files (usable files only: every empty file has the same hash)."""
    first: dict[str, str] = {}  # a set only for the hashes seen twice: most files are unique
    groups: dict[str, set[str]] = {}
    for f in good:
        other = first.setdefault(f.sha1, f.image)
        if other != f.image:
            groups.setdefault(f.sha1, {other}).add(f.image)
    return [
        {
            "sha1": digest,
            "images": sorted(images),
            "labels": sorted({labels[i] for i in images}),
        }
        for digest, images in sorted(groups.items())
        if len(images) > 1
    ]


def leakage_groups(df: pd.DataFrame, sha1: dict[str, str]) -> list[dict]:
    """Groups of identical files (same content hash) that sit in train and in val or test."""
    if "split" not in df.columns:
        return []
    frame = pd.DataFrame(
        {"image": df["image"], "split": df["split"], "sha1": df["image"].map(sha1)}
    ).dropna(subset=["sha1"])
    # only hashes shared by several files can leak: one groupby over those, not one per file
    frame = frame[frame["sha1"].duplicated(keep=False)]
    groups = []
    for digest, g in frame.groupby("sha1", sort=True):
        splits = set(g["split"])
        if "train" in splits and splits & {"val", "test"}:
            group = {"sha1": digest}
            for name in ("train", "val", "test"):
                if name in splits or name != "test":
                    group[name] = sorted(g.loc[g["split"] == name, "image"])
            groups.append(group)
    return groups


def split_leakage(
    samples: Samples,
    usable_df: pd.DataFrame,
    good: list[FileScan],
    cfg: DataConfig,
    seed: int,
    *,
    blocked: list[str],
) -> tuple[list[dict], str, dict]:
    """Identical files across the given split, or across the hold-out split `train` would draw
    with the same seed (grouped as train groups it: --group-col, DICOM PatientIDs); "none"
    when the data has problems already.
    Also check's near-duplicate section (data/neardup.py), with that split when there is one."""
    phash = {f.image: f.phash for f in good}
    if usable_df.empty or blocked:
        return [], "none", check_section(usable_df, phash, cfg, "none")
    if samples.has_split:
        split_df, leakage_split = usable_df, "given by the data"
        if cfg.group_near_duplicates:  # groups moved whole to their most held-out part
            split_df = with_near_duplicate_groups(usable_df, phash, cfg.near_duplicate_distance)
            leakage_split += ", near-duplicate groups moved whole to their most held-out part"
    else:
        grouped = usable_df
        patients = {f.image: f.patient for f in good if f.patient}
        if patients and "group" not in grouped.columns:  # as train groups them (engine/fit.py)
            grouped, _ = patient_groups(grouped, patients)
        if cfg.group_near_duplicates:
            grouped = with_near_duplicate_groups(usable_df, phash, cfg.near_duplicate_distance)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                split_df = holdout_split(grouped, cfg.val_fraction, seed)
        except DataError as e:
            return [], f"not computed: {e}", check_section(usable_df, phash, cfg, "none")
        leakage_split = f"hold-out drawn by train (val_fraction={cfg.val_fraction}, seed={seed})"
    sha1 = {f.image: f.sha1 for f in good}
    near = check_section(split_df, phash, cfg, leakage_split)
    return leakage_groups(split_df, sha1), leakage_split, near
