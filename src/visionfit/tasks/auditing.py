"""What a task's `audit` hook gets and returns (`visionfit audit RUN`, reports/audit.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class AuditArgs:
    """What `audit` gets: the finished run and how to predict images with its own bundle.

    `predict(images)`: `visionfit predict`'s table for those images (image, pred,
    prob_<class>..., error); asked only when the run kept no predictions of its validation
    split (the layer above supplies it: tasks do not load bundles)."""

    run: Any  # visionfit.runs.view.RunView
    predict: Callable[[list[str]], pd.DataFrame]


@dataclass
class AuditFindings:
    """Likely label errors of a run: `issues` (image, given, suggested, self_confidence,
    flagged and any task columns), worst first, the flagged rows (what the method finds) before
    the others it lists; `audited` images looked at, from `source`."""

    issues: pd.DataFrame
    audited: int
    source: str  # "out-of-fold" | "validation" (only the validation images were audited)
    method: str  # one line: how the issues were found
    score: str = "self-confidence"  # what the self_confidence column holds for this task
    notes: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str, int]] = field(default_factory=list)  # (given, suggested, count)

    @property
    def flagged(self) -> int:
        return int(self.issues["flagged"].sum()) if len(self.issues) else 0
