"""A run's own checkpoints are read weights-only; a damaged one is a RunError that names it and
never suggests unpickling it."""

from __future__ import annotations

import pytest
import torch

from visionfit.engine.callbacks import load_checkpoint
from visionfit.errors import RunError


class NotATensor:
    pass


def test_a_checkpoint_loads(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "best.ckpt")
    assert load_checkpoint(tmp_path / "best.ckpt")["epoch"] == 3


@pytest.mark.parametrize("damage", ["truncated", "objects", "garbage", "not_a_checkpoint"])
def test_a_damaged_checkpoint_is_one_line(tmp_path, damage):
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}, "epoch": 3}, path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "objects":
        torch.save({"state_dict": {}, "obj": NotATensor()}, path)
    elif damage == "garbage":
        path.write_bytes(b"garbage")
    else:
        torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(RunError) as info:
        load_checkpoint(path)
    text = str(info.value)
    assert text.startswith(f"checkpoint {path} is damaged") and "train again" in text
    assert "weights_only" not in text and "\n" not in text
