"""The top-level model.json of a run: a single bundle's, or a fold ensemble's (`"kind": "cv"`,
its members and the ensemble's own post-processing)."""

from __future__ import annotations

import json
from pathlib import Path

from visionfit.errors import RunError
from visionfit.fileio import atomic_write_text, json_safe

ENSEMBLE_FORMAT = "visionfit-ensemble"


def read_run_meta(run_dir: str | Path) -> dict | None:
    """The top-level model.json of a run, or None when there is none."""
    path = Path(run_dir) / "model.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


def is_ensemble_dir(run_dir: str | Path) -> bool:
    meta = read_run_meta(run_dir) if Path(run_dir).is_dir() else None
    return meta is not None and meta.get("kind") == "cv"


def write_ensemble_meta(run_dir: Path, members: list[str], extra: dict) -> None:
    """The CV run's model.json: the first member's bundle meta (all members share how they are
    fed), the members, and the ensemble's own post-processing (`extra`)."""
    first = dict(read_run_meta(run_dir / members[0]) or {})
    for key in ("best_epoch", "monitor_value"):
        first.pop(key, None)
    info = {**first, "format": ENSEMBLE_FORMAT, "version": 1, "kind": "cv", "members": members}
    info.update(extra)
    atomic_write_text(run_dir / "model.json", json.dumps(json_safe(info), indent=2))
