"""Head options: the mlp head's width and two dropouts (kept in model.json), new head layers
initialised as asked (and a classifier that weights filled left alone), and a frozen backbone's
BatchNorm kept still or updating (--frozen-bn)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import visionfit
from visionfit.config import FinetuneConfig, RunConfig
from visionfit.errors import VisionfitError
from visionfit.models.factory import (
    classifier_from_meta,
    classifier_meta,
    create_classifier,
    create_classifier_for,
)
from visionfit.models.freezing import backbone_batchnorms, create_finetune_policy
from visionfit.models.heads import MLPHead


def _cfg(**finetune) -> RunConfig:
    return RunConfig.from_dict({"model": {"name": "resnet10t"}, "finetune": finetune})


def test_mlp_head_width_and_two_dropouts_round_trip_through_model_json():
    cfg = _cfg(head="mlp", head_hidden=64, head_dropout="0.25,0.5")
    model = create_classifier_for(cfg, 3).model
    head = model.fc
    assert isinstance(head, MLPHead)
    assert (head[1].p, head[5].p) == (0.25, 0.5)
    assert head[2].out_features == 64 and head[6].in_features == 64
    meta = {**classifier_meta(cfg, 3), "in_chans": 3}
    assert meta["head_dropout"] == [0.25, 0.5] and meta["head_hidden"] == 64
    rebuilt = classifier_from_meta(meta).fc
    assert (rebuilt[1].p, rebuilt[5].p, rebuilt[2].out_features) == (0.25, 0.5, 64)


def test_head_dropout_one_number_is_both_and_default_is_a_quarter():
    assert FinetuneConfig(head="mlp", head_dropout="0.4").mlp_dropouts == (0.4, 0.4)
    assert FinetuneConfig(head="mlp", head_dropout=0.1).mlp_dropouts == (0.1, 0.1)
    assert FinetuneConfig(head="mlp", head_dropout=[0.2, 0.3]).mlp_dropouts == (0.2, 0.3)
    assert FinetuneConfig(head="mlp").mlp_dropouts == (0.25, 0.25)
    # model.json written before the two rates: one number, both layers
    old = classifier_from_meta(
        {"arch": "resnet10t", "num_outputs": 2, "in_chans": 3, "head": "mlp", "head_dropout": 0.1}
    ).fc
    assert (old[1].p, old[5].p) == (0.1, 0.1)


@pytest.mark.parametrize(
    ("finetune", "match"),
    [
        ({"head": "linear", "head_dropout": "0.3"}, "use --drop-rate"),
        ({"head": "mlp", "head_dropout": "0.2,0.3,0.4"}, "one or two dropouts"),
        ({"head": "mlp", "head_dropout": "0.2,1"}, "one or two dropouts"),
        ({"head": "mlp", "head_dropout": "half"}, "one or two numbers"),
        ({"head_init": "normal"}, "head_init"),
        ({"frozen_bn": "frozen"}, "frozen_bn"),
        ({"head_hidden": 0}, "head_hidden"),
    ],
)
def test_head_options_refused_with_the_reason(finetune, match):
    with pytest.raises(VisionfitError, match=match):
        RunConfig.from_dict({"finetune": finetune})


def test_an_older_config_yaml_with_a_linear_head_and_the_old_default_still_reads():
    cfg = RunConfig.from_dict({"finetune": {"head": "linear", "head_dropout": 0.25}})
    assert cfg.finetune.head_dropout is None


def _linear_layers(head: nn.Module) -> list[nn.Linear]:
    return [m for m in head.modules() if isinstance(m, nn.Linear)]


def test_head_init_xavier_and_kaiming_on_the_mlp_head():
    torch.manual_seed(0)
    default = create_classifier("resnet10t", 3, head="mlp", head_hidden=256).model.fc
    assert all(layer.bias.abs().sum() > 0 for layer in _linear_layers(default))  # torch's own
    xavier = create_classifier("resnet10t", 3, head="mlp", head_hidden=256, head_init="xavier")
    for layer in _linear_layers(xavier.model.fc):
        fan_out, fan_in = layer.weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        w = layer.weight.abs()
        assert w.max() <= bound and w.max() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0
    kaiming = create_classifier("resnet10t", 3, head="mlp", head_hidden=256, head_init="kaiming")
    hidden, out = _linear_layers(kaiming.model.fc)
    assert hidden.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.05)  # ReLU gain
    assert out.weight.std().item() == pytest.approx(math.sqrt(1 / 256), rel=0.25)  # linear gain
    assert torch.count_nonzero(hidden.bias) == 0 and torch.count_nonzero(out.bias) == 0


def test_head_init_on_a_linear_head_only_where_no_weights_filled_it(tmp_path):
    torch.manual_seed(0)
    fresh = create_classifier("resnet10t", 3, head_init="xavier").model.fc
    bound = math.sqrt(6 / (512 + 3))
    assert fresh.weight.abs().max() <= bound and torch.count_nonzero(fresh.bias) == 0

    source = create_classifier("resnet10t", 3).model.state_dict()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in source.items()}, str(path))
    kept = create_classifier("resnet10t", 3, weights=path, head_init="kaiming").model
    assert torch.equal(kept.fc.weight, source["fc.weight"])  # the file's classifier: kept
    assert torch.equal(kept.fc.bias, source["fc.bias"])
    other = create_classifier("resnet10t", 5, weights=path, head_init="kaiming").model
    assert other.fc.weight.std().item() == pytest.approx(math.sqrt(1 / 512), rel=0.2)
    assert torch.count_nonzero(other.fc.bias) == 0


def _run_frozen_epoch(model: nn.Module, frozen_bn: str) -> None:
    """One training step under the frozen-backbone callback, as Lightning calls it."""
    policy = create_finetune_policy(
        model, FinetuneConfig(freeze="backbone", frozen_bn=frozen_bn), lr=0.01, epochs=2
    )
    (freeze,) = policy.callbacks
    trainer = SimpleNamespace(current_epoch=0)
    model.train()  # Lightning's mode for the training loop
    freeze.setup(trainer, None, "fit")
    freeze.on_train_epoch_start(trainer, None)
    freeze.on_train_batch_start(trainer, None, None, 0)
    with torch.no_grad():
        model(torch.randn(4, 3, 32, 32) * 3 + 1)


@pytest.mark.parametrize(("frozen_bn", "moves"), [("eval", False), ("train", True)])
def test_frozen_backbone_batchnorm_statistics(frozen_bn, moves):
    torch.manual_seed(0)
    model = create_classifier("simple_cnn", 3).model
    bns = backbone_batchnorms(model)
    before = [bn.running_mean.clone() for bn in bns]
    _run_frozen_epoch(model, frozen_bn)
    assert all(bn.training is moves for bn in bns)
    changed = [not torch.equal(b, bn.running_mean) for b, bn in zip(before, bns, strict=True)]
    assert all(changed) if moves else not any(changed)


def test_frozen_bn_train_updates_statistics_but_not_weights(shapes_dir, tmp_path, fast_config):
    torch.manual_seed(0)
    start = create_classifier("simple_cnn", 3).model.state_dict()
    weights = tmp_path / "start.safetensors"
    save_file({k: v.contiguous() for k, v in start.items()}, str(weights))
    cfg = fast_config(shapes_dir, tmp_path / "runs", epochs=1).with_overrides(
        {
            "model.weights": str(weights),
            "finetune.freeze": "backbone",
            "finetune.frozen_bn": "train",
        }
    )
    run = visionfit.fit(cfg, progress=False)
    after = load_file(str(run.run_dir / "model.safetensors"))
    backbone = [k for k in start if not k.startswith("head.")]
    stats = [k for k in backbone if "running_" in k]
    learned = [k for k in backbone if k.endswith(("weight", "bias"))]
    assert stats and all(not torch.equal(after[k], start[k]) for k in stats)
    assert learned and all(torch.equal(after[k], start[k]) for k in learned)
    assert not torch.equal(after["head.2.weight"], start["head.2.weight"])
