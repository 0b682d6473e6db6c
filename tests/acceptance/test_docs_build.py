"""The documentation site builds (`mkdocs build --strict`, no network), and the README's first
shell line (the quickstart's data) does what the README says.

The build runs the site's hook (docs/hooks/reference.py: the CLI and config reference generated
from the Typer app and the pydantic fields, the gallery from examples/) and mkdocstrings over the
package's docstrings, so a renamed option, a broken link or a docstring mkdocstrings cannot read
fails here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _offline_env(base_env: dict) -> dict:
    env = dict(base_env)
    # any attempt to reach the network fails at once instead of hanging
    env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    env["NO_MKDOCS_2_WARNING"] = "1"
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason="mkdocs / mkdocstrings not installed: pip install -e '.[dev]' installs them",
)
def test_mkdocs_build_strict(tmp_path, base_env) -> None:
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
    res = subprocess.run(
        [*cmd, "-d", str(site)],
        cwd=ROOT,
        env=_offline_env(base_env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    # the generated pages are there and hold what the code declares
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for text in ("visionfit train", "--folds-file", "train.epochs", "visionfit serve"):
        assert text in cli, text
    config = (site / "reference" / "config" / "index.html").read_text()
    assert "train.epochs" in config and "segment.rle_order" in config
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "decode_image" in api and "Predictor" in api
    gallery = (site / "gallery" / "index.html").read_text()
    assert "examples/resnext_finetune_70_20_10.yaml" in gallery
    # no fetched fonts: the theme's font is off
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()


def test_quickstart_data_line_writes_the_two_folders(tmp_path, base_env) -> None:
    """README: python -c "from visionfit.data.synthetic import make_shapes_dataset as m; ..." """
    readme = (ROOT / "README.md").read_text().splitlines()
    line = next(ln for ln in readme if ln.startswith('python -c "from visionfit.data.synthetic'))
    code = line[len("python -c ") :].strip('"')
    subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=base_env, check=True, timeout=120
    )
    for folder, n in (("shapes", 100), ("test_images", 20)):
        classes = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert classes == ["circle", "square", "triangle"]
        assert all(len(list((tmp_path / folder / c).glob("*.png"))) == n for c in classes)
