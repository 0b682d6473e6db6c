"""The top-level model.json of a run: a single bundle's, or a fold ensemble's (`"kind": "cv"`,
its members and the ensemble's own post-processing)."""

from __future__ import annotations

from pathlib import Path

from visionfit.runs.files import read_model_meta, write_model_meta

ENSEMBLE_FORMAT = "visionfit-ensemble"


def write_ensemble_meta(run_dir: Path, members: list[str], extra: dict) -> None:
    """The CV run's model.json: the first member's bundle meta (all members share how they are
    fed), the members, and the ensemble's own post-processing (`extra`)."""
    first = dict(read_model_meta(run_dir / members[0]) or {})
    for key in ("best_epoch", "monitor_value"):
        first.pop(key, None)
    info = {**first, "format": ENSEMBLE_FORMAT, "version": 1, "kind": "cv", "members": members}
    info.update(extra)
    write_model_meta(run_dir, info)
