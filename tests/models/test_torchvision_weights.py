"""torchvision state dicts (`torch.save(model.state_dict())`, read with weights_only=True) on the
matching visionfit / timm networks: AlexNet (its `classifier.N` keys read as visionfit's
`head.M`), ResNet-18 and ResNeXt-50 32x4d (timm's names are torchvision's). With the same class
count the loaded network computes what torchvision's does; with another, the classifier is
skipped and said so, everything else loaded."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from visionfit.models.factory import create_classifier


def _saved_torchvision(tmp_path, name: str, num_classes: int):
    """A randomly initialised torchvision model (BatchNorm statistics moved off their init, so
    that loading them is seen) and its state dict saved as torchvision's recipes save one."""
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / f"{name}.pth"
    torch.save(tv.state_dict(), path)
    return tv.eval(), path


@pytest.mark.parametrize(
    ("tv_name", "vf_name", "size"),
    [
        ("alexnet", "alexnet", 224),
        ("alexnet", "alexnet", 64),
        ("resnet18", "resnet18", 64),
        ("resnext50_32x4d", "resnext50_32x4d", 64),
    ],
)
def test_torchvision_state_dict_gives_torchvisions_outputs(tmp_path, tv_name, vf_name, size):
    tv, path = _saved_torchvision(tmp_path, tv_name, num_classes=5)
    created = create_classifier(vf_name, 5, weights=path)
    assert "skipped" not in created.weights_source, created.weights_source
    model = created.model.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ours, theirs = model(x), tv(x)
    assert ours.shape == theirs.shape == (2, 5)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_alexnet_classifier_keys_map_onto_the_head(tmp_path):
    tv, path = _saved_torchvision(tmp_path, "alexnet", num_classes=3)
    model = create_classifier("alexnet", 3, weights=path).model
    assert torch.equal(model.head[2].weight, tv.classifier[1].weight)
    assert torch.equal(model.head[5].weight, tv.classifier[4].weight)
    assert torch.equal(model.head[7].weight, tv.classifier[6].weight)
    assert torch.equal(model.head[7].bias, tv.classifier[6].bias)


@pytest.mark.parametrize(("tv_name", "vf_name", "head"), [
    ("alexnet", "alexnet", "head.7."), ("resnet18", "resnet18", "fc."),
])  # fmt: skip
def test_another_class_count_skips_only_the_classifier(tmp_path, tv_name, vf_name, head):
    tv, path = _saved_torchvision(tmp_path, tv_name, num_classes=1000)
    created = create_classifier(vf_name, 4, weights=path)
    assert "skipped 2 tensors (head)" in created.weights_source
    state, theirs = created.model.state_dict(), tv.state_dict()
    alias = {"head.2.": "classifier.1.", "head.5.": "classifier.4."}
    for key, value in state.items():
        if key.startswith(head):
            assert value.shape[0] == 4
            continue
        src = next((theirs_key for a, theirs_key in alias.items() if key.startswith(a)), None)
        src_key = key.replace(next(a for a in alias if key.startswith(a)), src) if src else key
        assert torch.equal(value, theirs[src_key]), key
