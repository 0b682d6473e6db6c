"""Fast start and readable help: --help imports no heavy library and wraps at 80 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from visionfit.cli.app import app

HEAVY = ("torch", "lightning", "timm", "albumentations", "sklearn", "optuna", "matplotlib")

# Runs the command line in a fresh interpreter and reports which heavy modules it imported.
PROBE = """
import json, sys
sys.argv = ["visionfit", *sys.argv[1:]]
from visionfit.cli import main
try:
    main()
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _heavy_imports(*args: str, tmp_path) -> list[str]:
    env = dict(os.environ, COLUMNS="80")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_help_and_runs_import_no_heavy_library(tmp_path):
    assert _heavy_imports("--help", tmp_path=tmp_path) == []
    assert _heavy_imports("train", "--help", tmp_path=tmp_path) == []
    (tmp_path / "runs").mkdir()
    # runs reads summaries only; engine/scoring.py still imports scikit-learn at the top
    assert set(_heavy_imports("runs", "runs", tmp_path=tmp_path)) <= {"sklearn"}
    # the probe sees imports: a command that trains pulls torch in
    assert "torch" in _heavy_imports("predict", "no-run", "x.png", tmp_path=tmp_path)


def _commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def test_command_and_option_help_have_no_hard_line_breaks():
    for name, command in typer.main.get_command(app).commands.items():
        texts = [command.help, *(p.help for p in command.params if getattr(p, "help", None))]
        for text in texts:
            for paragraph in text.split("\n\n"):
                assert "\n" not in paragraph, (name, paragraph)


@pytest.mark.parametrize("command", ["", *_commands()])
def test_help_fits_80_columns(command):
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) > 5
    assert max(len(line) for line in lines) <= 80


def test_check_says_what_it_checks_first(shapes_dir, run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))
    code, out, err = run_cli(["check", shapes_dir])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"checking {shapes_dir}: every image is decoded")
    assert lines[-1].startswith("data usable: 180 images in 3 classes")
