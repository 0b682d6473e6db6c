"""The tiny runs of tests/reports (one per kind, built once per session), for the server."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_path = Path(__file__).parents[1] / "reports" / "tiny_runs.py"
_spec = importlib.util.spec_from_file_location("_vf_tiny_runs", _path)
tiny_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_runs)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "visionfit-tiny-runs"
    base.mkdir(exist_ok=True)
    return lambda kind: tiny_runs.build(kind, base)
