"""One tiny run per kind for the whole session (see tiny_runs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_vf_tiny_runs", Path(__file__).with_name("tiny_runs.py")
)
tiny_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_runs)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """tiny_run(kind) -> the run directory (multiclass, binary, cv, baseline, segment,
    segment_cv), trained on first use and shared by every test of the session."""
    base = tmp_path_factory.getbasetemp() / "visionfit-tiny-runs"
    base.mkdir(exist_ok=True)
    return lambda kind: tiny_runs.build(kind, base)
