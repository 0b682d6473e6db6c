"""The tiny runs of tests/reports (one per kind, built once per session), for the server."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from visionfit.serve.app import create_app

_path = Path(__file__).parents[1] / "reports" / "tiny_runs.py"
_spec = importlib.util.spec_from_file_location("_vf_tiny_runs", _path)
tiny_runs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_runs)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "visionfit-tiny-runs"
    base.mkdir(exist_ok=True)
    return lambda kind: tiny_runs.build(kind, base)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tiny_run, request):
    """uvicorn serving a run on 127.0.0.1:<free port> in a thread; yields the base URL."""

    def start(kind: str, **limits):
        app = create_app(tiny_run(kind), **limits)
        port = _free_port()
        srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not srv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

        def stop():
            srv.should_exit = True
            thread.join(10)

        request.addfinalizer(stop)
        return f"http://127.0.0.1:{port}/"

    return start
