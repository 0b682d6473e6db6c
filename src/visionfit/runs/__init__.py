"""The run directory's one owner: create, lock, file names and their read/write (config,
classes, splits, folds, skipped, model.json), the typed summary, "what kind of run is this",
the read-only view of a finished run and the table of runs."""

from visionfit.fileio import create_exclusive, open_exclusive
from visionfit.runs.kind import model_kind, run_kind
from visionfit.runs.summary import SCHEMA_VERSION, RunSummary, read_summary, write_summary

__all__ = [
    "SCHEMA_VERSION",
    "RunSummary",
    "create_exclusive",
    "model_kind",
    "open_exclusive",
    "read_summary",
    "run_kind",
    "write_summary",
]
