"""A damaged best.ckpt (disk, hand) never ends a run with a traceback: the bundle takes the last
checkpoint's weights and says so, or the run stops with one line when nothing else holds them.
torch's advice to load with weights_only=False is never repeated."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visionfit.engine.trainer import _load_best
from visionfit.errors import ModelError, RunError
from visionfit.models.weight_files import load_weights_file


class _Ckpt:
    best_model_path = ""


def _module(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 2)


def test_damaged_best_falls_back_to_last(tmp_path, capsys):
    good = _module(1)
    torch.save({"state_dict": good.state_dict(), "epoch": 4}, tmp_path / "last.ckpt")
    (tmp_path / "best.ckpt").write_bytes(b"PK\x03\x04 not a whole zip")
    module = _module(2)
    assert _load_best(module, _Ckpt(), tmp_path, finished=True) == 4
    assert torch.equal(module.weight, good.weight)
    assert "best.ckpt is damaged" in capsys.readouterr().err  # said, not silent


def test_damaged_best_without_another_checkpoint_is_one_line(tmp_path):
    (tmp_path / "best.ckpt").write_bytes(b"\x00" * 64)
    with pytest.raises(RunError, match="best.ckpt is damaged"):  # one line, no traceback
        _load_best(_module(0), _Ckpt(), tmp_path, finished=True)


def test_pickled_objects_are_refused_without_weights_only_advice(tmp_path):
    import argparse  # any object that is not a tensor container: a pickle to be refused

    path = tmp_path / "w.pth"
    torch.save({"args": argparse.Namespace(lr=1), "state_dict": {}}, path)
    with pytest.raises(ModelError) as e:
        load_weights_file(path)
    assert "Python objects" in str(e.value) and "weights_only" not in str(e.value)
