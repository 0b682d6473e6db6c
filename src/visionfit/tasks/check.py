"""`visionfit check` for every task: the shared scan and report, plus the task's own section."""

from __future__ import annotations

from visionfit.config import RunConfig
from visionfit.data.check import CheckReport, check_dataset
from visionfit.tasks.registry import task_for_config


def check(
    cfg: RunConfig, *, progress: bool = False, use_cache: bool = True, threads: int | None = None
) -> CheckReport:
    """Scan the dataset of `cfg` (any task) and describe it; nothing in the dataset is written.

    >>> report = check(RunConfig.from_dict({"data": {"path": "data/", "task": "segment"}}))
    >>> report.usable, report.sections["segmentation"]["empty_masks"]
    """
    task = task_for_config(cfg)
    given = task.check_input(cfg)
    report = check_dataset(
        cfg.data,
        seed=cfg.train.seed,
        progress=progress,
        use_cache=use_cache,
        threads=threads,
        samples=given.samples,
        classes_required=given.classes_required,
    )
    if given.section:
        report.sections[task.name] = given.section
    report.problems.extend(given.problems)
    if given.split_check is not None and report.usable:
        _check_split(given, report)
    report.usable = not report.problems
    return report


def _check_split(given, report: CheckReport) -> None:
    """The train/val split `train` would use, checked as train checks it (a class left without
    training or validation images): a problem, or notes."""
    from visionfit.errors import DataError

    bad = {f["image"] for f in report.bad_files}
    df = given.samples.df
    try:
        report.warnings.extend(given.split_check(df[~df["image"].isin(bad)]))
    except DataError as e:
        report.problems.append(str(e))
