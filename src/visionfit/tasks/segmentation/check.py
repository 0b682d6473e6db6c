"""`visionfit check DATA --task segment`: a health report for image + mask data.

Reads every image header and every mask (or RLE row) once and reports: pairing problems (raised
as errors naming the files), unreadable files, image/mask size mismatches, mask values that do
not fit the expected convention, the share of empty masks, and the image sizes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from visionfit.config import DataConfig, TaskSection
from visionfit.errors import DataError

# `seg`: the segment section (tasks/segmentation/config.py SegmentConfig; data/ sits below tasks)
from visionfit.tasks.segmentation.sources import load_seg_samples


@dataclass
class SegCheckReport:
    layout: str
    n_images: int
    classes: list[str]
    mask_rule: str
    empty_masks: int
    # what the mask values found mean, one sentence per decision (data/mask_values.py)
    mask_values: list[str] = field(default_factory=list)
    mask_problem: str = ""  # why no reading fits the values (ambiguous, or outside the classes)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    size_mismatches: list[tuple[str, str, tuple[int, int], tuple[int, int]]] = field(
        default_factory=list
    )  # (image, mask, image (h, w), mask (h, w))
    unexpected_values: list[tuple[str, list[int]]] = field(default_factory=list)
    # coco / yolo: images left out for their annotations, annotations of no image
    # (image or annotation file, reason, detail); train writes them to skipped.csv
    annotation_problems: list[tuple[str, str, str]] = field(default_factory=list)
    # rows of an RLE CSV that do not fit (class ids, duplicates, runs past the image)
    rle_problems: list[str] = field(default_factory=list)
    value_counts: dict[int, int] = field(default_factory=dict)  # masks containing each value
    image_sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> count
    splits: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def empty_share(self) -> float:
        return self.empty_masks / max(self.n_images, 1)

    @property
    def ok(self) -> bool:
        return not (
            self.unreadable
            or self.size_mismatches
            or self.unexpected_values
            or self.mask_problem
            or self.annotation_problems
            or self.rle_problems
        )

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["empty_share"] = self.empty_share
        d["ok"] = self.ok
        return d


def check_segmentation(
    data: DataConfig, seg: TaskSection, *, progress=None, samples=None
) -> SegCheckReport:
    """Scan a segmentation dataset (folders or RLE CSV) and report what would trouble training."""
    if samples is None:
        samples = load_seg_samples(data, seg, progress=progress, strict=False)
    df = samples.df
    spec = samples.spec
    report = SegCheckReport(
        layout=samples.layout,
        n_images=len(df),
        classes=samples.classes,
        mask_rule=_describe_rule(spec, samples.layout),
        mask_values=list(spec.decisions),
        mask_problem=spec.problem or "",
        empty_masks=int(df["empty_mask"].sum()),
        unreadable=list(samples.skipped),
        annotation_problems=list(samples.dropped),
        notes=list(samples.notes),
        rle_problems=list(samples.problems),
    )
    report.image_sizes = dict(
        Counter(f"{w}x{h}" for h, w in zip(df["height"], df["width"], strict=True)).most_common()
    )
    report.splits = {k or "(none)": int(v) for k, v in df["split"].value_counts().items()}
    if samples.layout == "rle-csv" or samples.source:  # no mask files to look into
        return report
    counts: Counter = Counter()
    for image, mask, scan in zip(df["image"], df["mask"], samples.scans, strict=True):
        if scan.mask_size != scan.image_size:
            report.size_mismatches.append((image, mask, scan.image_size, scan.mask_size))
        if scan.colour:
            if not spec.colour_map:
                report.unexpected_values.append((mask, ["RGB colours; give --colour-map"]))
            continue
        counts.update(scan.values)
        bad = spec.unexpected_values(scan.values)  # train's own test (data/masks.py)
        if bad:
            report.unexpected_values.append((mask, bad))
    report.value_counts = dict(sorted(counts.items()))
    return report


def check_input(data: DataConfig, seg: TaskSection):
    """What `visionfit check` needs from a segmentation dataset: a samples table for the shared
    scan and report (stratification label: empty / non_empty mask), this task's section of the
    report, and the problems that stop training (size mismatches, unexpected mask values)."""
    import numpy as np
    import pandas as pd

    from visionfit.data.sources import Samples

    samples = load_seg_samples(data, seg, strict=False)
    report = check_segmentation(data, seg, samples=samples)
    df = samples.df.copy()
    df["label"] = np.where(df["empty_mask"], "empty", "non_empty")
    df["target"] = (~df["empty_mask"]).astype(int)
    # Pairs the reader left out are scanned too, so that the shared report names each bad file
    # with its reason like a classification check does.
    left_out = pd.DataFrame(
        {"image": [p for p, _ in samples.skipped], "label": "", "target": -1, "split": ""}
    )
    table = Samples(
        df=pd.concat([df[["image", "label", "target", "split"]], left_out], ignore_index=True),
        classes=["empty", "non_empty"],
        layout=samples.layout,
        notes=list(samples.notes) + _dropped_notes(samples.dropped),
    )
    problems = [samples.spec.problem] if samples.spec.problem else []
    if samples.problems:
        problems.append(f"{len(samples.problems)} RLE rows do not fit (e.g. {samples.problems[0]})")
    if report.size_mismatches:
        problems.append(f"{len(report.size_mismatches)} masks differ in size from their image")
    if report.unexpected_values:
        problems.append(f"{len(report.unexpected_values)} masks hold values outside the convention")
    return table, report.to_dict(), problems


def _dropped_notes(dropped: list[tuple[str, str, str]]) -> list[str]:
    """coco / yolo: how many images train leaves out for their annotations, and why."""
    counts = Counter(reason for _, reason, _ in dropped)
    return [f"{reason}: {n}; `train` leaves them out" for reason, n in counts.items()]


def _describe_rule(spec, layout: str) -> str:
    """The decisions in one line (the sentences of data/mask_values.py, nothing of its own)."""
    if spec.problem:
        return "undecided (see the problem below)"
    return "; ".join(spec.decisions)


__all__ = ["DataError", "SegCheckReport", "check_input", "check_segmentation"]
