"""The one YAML reader: bounded in bytes and in what its aliases expand to; short messages."""

from __future__ import annotations

import os
import sys

import pytest
from pydantic import BaseModel, ValidationError

from visionfit.config import RunConfig, first_error, load_yaml_text, read_yaml
from visionfit.errors import VisionfitError

LOLS = '["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'


def alias_bomb(levels: int = 9) -> str:
    names = "abcdefghijk"[:levels]
    lines = [f"a: &a {LOLS}"]
    lines += [
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip(names, names[1:], strict=False)
    ]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_anything_is_built(tmp_path):
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    assert len(alias_bomb()) < 700
    with pytest.raises(VisionfitError, match="aliases") as info:
        read_yaml(tmp_path / "bomb.yaml")
    assert "bomb.yaml" in str(info.value) and len(str(info.value)) < 300


def test_a_bomb_under_a_valid_key_is_refused_too(tmp_path):
    (tmp_path / "c.yaml").write_text(alias_bomb(7) + "train: {lr: *g}\n")
    with pytest.raises(VisionfitError, match="aliases"):
        RunConfig.from_yaml(tmp_path / "c.yaml")


def test_ordinary_aliases_still_work():
    raw = load_yaml_text("base: &b {lr: 0.1}\ntrain: *b\nsizes: [&s 32, *s]\n")
    assert raw == {"base": {"lr": 0.1}, "train": {"lr": 0.1}, "sizes": [32, 32]}


def test_a_deep_or_recursive_document_is_one_line():
    with pytest.raises(VisionfitError, match="not valid YAML"):
        load_yaml_text("[" * 100_000 + "]" * 100_000)
    assert load_yaml_text("a: &a [1, *a]")["a"][0] == 1  # a self-reference counts once


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes are POSIX")
def test_a_config_that_is_a_pipe_or_missing(tmp_path):
    os.mkfifo(tmp_path / "c.yaml")
    with pytest.raises(VisionfitError, match=r"named pipe"):
        read_yaml(tmp_path / "c.yaml")
    with pytest.raises(VisionfitError, match="config file not found"):
        read_yaml(tmp_path / "none.yaml")


def test_a_huge_value_is_clipped_in_messages():
    class M(BaseModel):
        lr: float

    with pytest.raises(ValidationError) as info:
        M.model_validate({"lr": ["x" * 10_000]})
    assert len(first_error(info.value)) < 400
