"""Where each fold of a K-fold run stands, so that `visionfit train --resume` continues it.

A fold (``fold_<k>/``, and ``refit/``) writes its ``config.yaml`` before it trains and its record
(``fold.json`` + ``val_values.npy``, runs/files.py) after its bundle: the record is the last file,
so a fold with one is finished and kept as it is; its `SplitResult` is read back from the record
and the bundle, the out-of-fold values exactly as they were computed. A fold without one
continues from its own newest checkpoint (the same choice a hold-out run makes,
engine/checkpoint_choice.py); a fold that was never started trains from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from visionfit.engine.checkpoint_choice import find_resume_checkpoint
from visionfit.engine.trainer import SplitResult
from visionfit.inference.bundle import load_bundle_model
from visionfit.runs import files as run_files
from visionfit.runs.kind import fold_finished

_RECORDED = ("best_epoch", "best_metrics", "epochs_run", "post", "val_final", "weights_source")


def record_fold(fold_dir: Path, split: SplitResult) -> None:
    """Write the finished fold's record (after its bundle): `--resume` keeps this fold."""
    record = {name: getattr(split, name) for name in _RECORDED}
    run_files.write_fold_record(fold_dir, record, split.val_probs)


@dataclass
class FoldStart:
    """How a fold's training begins: kept (`done`), from a checkpoint, or from the start."""

    done: SplitResult | None = None
    resume_from: Path | None = None
    finished: bool = False  # the checkpoint was written at the end of training


def fold_start(fold_dir: Path, name: str, say: Callable[[str], None]) -> FoldStart:
    """What to do with `fold_dir` (`name`: "fold 2/5", "the refit") in a resumed K-fold run."""
    if not fold_dir.is_dir():
        return FoldStart()
    if fold_finished(fold_dir):
        say(f"{name}: finished, kept ({fold_dir.name}/{run_files.FOLD_RECORD})")
        return FoldStart(done=restore_fold(fold_dir))
    choice = find_resume_checkpoint(fold_dir)
    for line in choice.decision_lines(fold_dir.name, finishing="writing its bundle"):
        say(f"{name}: {line}")
    return FoldStart(resume_from=choice.path, finished=choice.finished)


def restore_fold(fold_dir: Path) -> SplitResult:
    """A finished fold's result, from its record and bundle (nothing is trained or written)."""
    record, values = run_files.read_fold_record(fold_dir)
    meta = run_files.read_model_meta(fold_dir) or {}
    return SplitResult(
        module=_BundleModule(fold_dir),  # type: ignore[arg-type]
        best_epoch=int(record["best_epoch"]),
        best_metrics=dict(record.get("best_metrics") or {}),
        epochs_run=int(record.get("epochs_run") or 0),
        preprocessing=None,
        meta=meta,
        val_probs=values,
        post=dict(record.get("post") or {}),
        val_final=dict(record.get("val_final") or {}),
        weights_source=str(record.get("weights_source") or ""),
    )


class _BundleModule:
    """Stands for a finished fold's LightningModule: `.model` is its bundle's network, loaded
    only when a task's CV asks for it (segmentation pools the folds' probabilities)."""

    def __init__(self, fold_dir: Path):
        self.fold_dir = fold_dir
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_bundle_model(self.fold_dir)[0].eval()
        return self._model
