"""Heads and fine-tuning policies: the MLP head, a frozen backbone that does not move (BatchNorm
statistics included), and --finetune unfreezing at the right epoch with two learning rates."""

from __future__ import annotations

import hashlib

import lightning as L
import pandas as pd
import pytest
import timm
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import visionfit
from visionfit.config import FinetuneConfig, RunConfig
from visionfit.errors import ModelError, VisionfitError
from visionfit.models.factory import create_classifier
from visionfit.models.freezing import create_finetune_policy, split_parameters
from visionfit.models.heads import MLPHead, attach_head, classifier_names


def _digest(state: dict[str, torch.Tensor], keep) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        if keep(k):
            h.update(k.encode())
            h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_mlp_head_replaces_the_timm_classifier():
    model = timm.create_model("resnet10t", num_classes=4)
    attach_head(model, "mlp", 4, hidden=32, dropout=0.1)
    assert classifier_names(model) == ["fc"]
    head = model.fc
    assert isinstance(head, MLPHead)
    kinds = [type(m) for m in head]
    assert kinds == [
        nn.BatchNorm1d,
        nn.Dropout,
        nn.Linear,
        nn.ReLU,
        nn.BatchNorm1d,
        nn.Dropout,
        nn.Linear,
    ]
    assert head[2].in_features == model.num_features and head[6].out_features == 4
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 4)


def test_mlp_head_on_builtin_and_bundle_round_trip(shapes_dir, tmp_path, fast_config):
    created = create_classifier("simple_cnn", 3, head="mlp", head_hidden=16)
    assert classifier_names(created.model) == ["head.2"]
    assert isinstance(created.model.head[2], MLPHead)

    cfg = fast_config(shapes_dir, tmp_path, epochs=1).with_overrides(
        {"finetune.head": "mlp", "finetune.head_hidden": 16}
    )
    run = visionfit.fit(cfg, progress=False)
    predictor = visionfit.load(run.run_dir)  # rebuilt from model.json: the head comes back too
    assert isinstance(predictor.model.head[2], MLPHead)
    saved = load_file(str(run.run_dir / "model.safetensors"))
    for k, v in predictor.model.state_dict().items():
        assert torch.equal(v, saved[k]), k


def test_head_errors_name_the_problem():
    with pytest.raises(ModelError, match="no linear layer"):
        classifier_names(nn.Sequential(nn.Conv2d(3, 4, 3)))
    with pytest.raises(ModelError, match="unknown head 'conv'"):
        attach_head(timm.create_model("resnet10t", num_classes=2), "conv", 2)
    with pytest.raises(VisionfitError, match="choose one"):
        RunConfig.from_dict({"finetune": {"freeze": "backbone", "finetune_epochs": 2}})
    model = create_classifier("simple_cnn", 3).model
    with pytest.raises(VisionfitError, match="would never be unfrozen"):
        create_finetune_policy(model, FinetuneConfig(finetune_epochs=3), lr=1e-3, epochs=3)


def test_policy_groups():
    model = timm.create_model("resnet10t", num_classes=3)
    head, backbone = split_parameters(model)
    assert {id(p) for p in head} == {id(model.fc.weight), id(model.fc.bias)}
    assert len(head) + len(backbone) == len(list(model.parameters()))
    assert create_finetune_policy(model, FinetuneConfig(), 1e-3, 5).param_groups is None
    groups = create_finetune_policy(model, FinetuneConfig(backbone_lr_mult=0.5), 1e-3, 5)
    assert [(g["name"], g["lr"]) for g in groups.param_groups] == [
        ("head", 1e-3),
        ("backbone", 5e-4),
    ]
    frozen = create_finetune_policy(model, FinetuneConfig(freeze="backbone"), 1e-3, 5)
    assert [g["name"] for g in frozen.param_groups] == ["head"]


def test_frozen_backbone_changes_only_the_head(shapes_dir, tmp_path, fast_config):
    # Start from a known weights file so that "before" is exact, BatchNorm statistics included.
    torch.manual_seed(0)
    start = timm.create_model("resnet10t", num_classes=3).state_dict()
    weights = tmp_path / "start.safetensors"
    save_file({k: v.contiguous() for k, v in start.items()}, str(weights))
    cfg = fast_config(shapes_dir, tmp_path / "runs", epochs=1).with_overrides(
        {"model.name": "resnet10t", "model.weights": str(weights), "finetune.freeze": "backbone"}
    )
    run = visionfit.fit(cfg, progress=False)
    after = load_file(str(run.run_dir / "model.safetensors"))

    def backbone(k):
        return not k.startswith("fc.")

    def is_head(k):
        return k.startswith("fc.")

    assert any("running_mean" in k for k in start)  # the backbone has BatchNorm to keep still
    assert _digest(after, backbone) == _digest(start, backbone)
    assert _digest(after, is_head) != _digest(start, is_head)
    metrics = pd.read_csv(run.run_dir / "metrics.csv")
    assert (metrics["lr_head"] > 0).all() and "lr_backbone" not in metrics


class _BackboneDigest(L.Callback):
    """Records a digest of the backbone's parameters after every training epoch."""

    def __init__(self):
        self.by_epoch: dict[int, str] = {}
        self.start = ""

    def on_train_start(self, trainer, pl_module):
        self.start = self._digest(pl_module.model)

    def on_train_epoch_end(self, trainer, pl_module):
        self.by_epoch[trainer.current_epoch] = self._digest(pl_module.model)

    @staticmethod
    def _digest(model):
        _, backbone = split_parameters(model)
        return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in backbone)).hexdigest()


def test_finetune_unfreezes_at_the_right_epoch_with_two_lrs(shapes_dir, tmp_path, fast_config):
    cfg = fast_config(shapes_dir, tmp_path, epochs=3, lr=3e-3).with_overrides(
        {"finetune.finetune_epochs": 1}
    )
    recorder = _BackboneDigest()
    run = visionfit.fit(cfg, progress=False, callbacks=[recorder])
    # head only in epoch 0: the backbone does not move; from epoch 1 on it does
    assert recorder.by_epoch[0] == recorder.start
    assert recorder.by_epoch[1] != recorder.start and recorder.by_epoch[2] != recorder.by_epoch[1]

    m = pd.read_csv(run.run_dir / "metrics.csv")
    assert list(m["epoch"]) == [0, 1, 2]
    assert m["lr_backbone"][0] == 0 and (m["lr_backbone"][1:] > 0).all()
    assert (m["lr_head"] > 0).all() and (m["lr"] == m["lr_head"]).all()
    # one cosine schedule drives both groups: the backbone runs at a tenth of the head's rate
    assert (m["lr_backbone"][1:] / m["lr_head"][1:]).tolist() == pytest.approx([0.1, 0.1])
    cfg_yaml = (run.run_dir / "config.yaml").read_text()
    assert "finetune_epochs: 1" in cfg_yaml


def test_a_new_head_on_loaded_weights_starts_small(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("resnet10t", num_classes=1000).state_dict()
    weights = tmp_path / "in1k.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(weights))
    created = create_classifier("resnet10t", 5, weights=weights)
    fc = created.model.fc
    assert fc.weight.std().item() == pytest.approx(0.01, rel=0.2)
    assert torch.count_nonzero(fc.bias) == 0
    # a head that was loaded is left alone; so is a randomly initialised network
    same = create_classifier("resnet10t", 1000, weights=weights).model.fc
    assert torch.equal(same.weight, source["fc.weight"])
    torch.manual_seed(0)
    scratch = create_classifier("resnet10t", 5).model.fc
    torch.manual_seed(0)
    assert torch.equal(scratch.weight, timm.create_model("resnet10t", num_classes=5).fc.weight)
