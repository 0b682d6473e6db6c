"""The one pretrained-weight chain (models/pretrained.py): order, fall-through, messages; and smp's
own encoders read from the local Hugging Face cache through it, with no network."""

from __future__ import annotations

import hashlib

import pytest
import torch
from huggingface_hub import constants as hf_constants
from safetensors.torch import save_file

from visionfit.errors import ModelError
from visionfit.models.pretrained import WeightSpec, find_pretrained


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _fake_hf_cache(cache, repo_id: str, state: dict, commit: str | None = None):
    """Lay out `repo_id/model.safetensors` as huggingface_hub's cache stores it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = commit or "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    blobs = repo / "blobs"
    blobs.mkdir()
    tmp = blobs / "tmp"
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    blob = blobs / hashlib.sha256(tmp.read_bytes()).hexdigest()
    tmp.rename(blob)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(blob)
    return snapshot / "model.safetensors"


SPEC = WeightSpec(label="pretrained weights for 'x'", fix="Use --weights.", hf_repo="me/x")


def test_a_local_file_comes_first(no_hub, tmp_path):
    found = find_pretrained(SPEC, lambda c: c, weights=tmp_path / "w.pth")
    assert (found.kind, found.source) == ("file", f"local file {tmp_path / 'w.pth'}")


def test_cache_is_used_without_the_hub(no_hub):
    path = _fake_hf_cache(no_hub, "me/x", {"w": torch.zeros(1)})
    found = find_pretrained(SPEC, lambda c: c)
    assert found.kind == "cache" and str(found.path) == str(path)
    assert found.source == f"Hugging Face cache me/x ({path})"


def test_damaged_cache_falls_through_and_is_named(no_hub):
    _fake_hf_cache(no_hub, "me/x", {"w": torch.zeros(1)})

    def load(c):
        raise OSError("truncated file")

    with pytest.raises(ModelError) as info:
        find_pretrained(SPEC, load)
    msg = str(info.value)
    assert msg.startswith("no pretrained weights for 'x' offline: tried HF cache (")
    assert "unusable: truncated file" in msg and "HF_HUB_OFFLINE" in msg
    assert msg.endswith("Use --weights.") and "\n" not in msg


def test_model_errors_are_not_swallowed(no_hub):
    _fake_hf_cache(no_hub, "me/x", {"w": torch.zeros(1)})

    def load(c):
        raise ModelError("does not fit")

    with pytest.raises(ModelError, match="^does not fit$"):
        find_pretrained(SPEC, load)


def test_no_remote_source_says_who_has_none(no_hub):
    spec = WeightSpec(label="pretrained weights for 'y'", package_arch="y", remote=False)
    with pytest.raises(ModelError, match=r"timm has no pretrained weights for 'y': tried package"):
        find_pretrained(spec, lambda c: c)


def test_smp_encoder_imagenet_weights_from_the_hf_cache(no_hub):
    from segmentation_models_pytorch.encoders import encoders, get_encoder

    from visionfit.models.segmentation import create_segmenter

    settings = encoders["resnet18"]["pretrained_settings"]["imagenet"]
    torch.manual_seed(0)
    ref = get_encoder("resnet18", in_channels=3, weights=None)
    path = _fake_hf_cache(no_hub, settings["repo_id"], ref.state_dict(), settings["revision"])
    created = create_segmenter("unet", encoder="resnet18", encoder_weights="imagenet", in_chans=1)
    assert created.weights_source == f"encoder: Hugging Face cache {settings['repo_id']} ({path})"
    conv = created.model.encoder.conv1.weight
    assert conv.shape[1] == 1
    assert torch.allclose(conv[:, 0], ref.conv1.weight.sum(1))  # 3 channels adapted to 1
