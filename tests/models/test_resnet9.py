"""The built-in ResNet-9 (the CIFAR speed-run network) at small sizes, and the channels-last
layout training and loading put networks in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionfit.models.factory import create_classifier


@pytest.mark.parametrize("name,size,chans", [("resnet9_16", 28, 1), ("resnet9_32", 32, 3)])
def test_resnet9_takes_small_images(name, size, chans):
    model = create_classifier(name, 10, in_chans=chans).model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, chans, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_resnet9_learns_a_separable_toy_problem():
    """Bright vs dark 16 px images: above chance in a few dozen steps."""
    torch.manual_seed(0)
    model = create_classifier("resnet9_16", 2, in_chans=1).model
    x = torch.rand(64, 1, 16, 16)
    y = (torch.arange(64) % 2).long()
    x[y == 1] += 0.5
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.8


def test_channels_last_gives_the_same_outputs():
    model = create_classifier("simple_cnn", 3, in_chans=3).model.eval()
    x = torch.randn(4, 3, 24, 24)
    with torch.no_grad():
        plain = model(x).numpy()
        model.to(memory_format=torch.channels_last)
        assert model.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
        np.testing.assert_allclose(model(x).numpy(), plain, atol=1e-5)
