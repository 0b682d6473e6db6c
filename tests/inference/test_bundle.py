"""A damaged model.safetensors is one RunError naming the file, never safetensors' own error."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from visionfit.errors import RunError
from visionfit.inference.bundle import read_bundle_weights


def test_whole_weights_load(tmp_path):
    save_file({"w": torch.ones(3)}, str(tmp_path / "model.safetensors"))
    assert read_bundle_weights(tmp_path / "model.safetensors")["w"].tolist() == [1, 1, 1]


@pytest.mark.parametrize("damage", ["truncated", "empty", "folder"])
def test_damaged_weights_are_one_line(tmp_path, damage):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(1000)}, str(path))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(RunError) as info:
        read_bundle_weights(path)
    text = str(info.value)
    assert text.startswith(f"{path} is damaged or incomplete (") and "train again" in text
    assert "\n" not in text
