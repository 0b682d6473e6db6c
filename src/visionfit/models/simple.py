"""Small from-scratch classifiers people learn with: a simple CNN and AlexNet."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SimpleCNN(nn.Module):
    """Three conv-BN-ReLU-pool stages, global average pooling and a linear head.

    Works at any input size >= 8 px; a good first model and a sanity check for a dataset.
    """

    def __init__(
        self, num_classes: int, in_chans: int = 3, width: int = 32, drop_rate: float = 0.0
    ):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn(in_chans, w),
            _conv_bn(w, w),
            nn.MaxPool2d(2),
            _conv_bn(w, 2 * w),
            _conv_bn(2 * w, 2 * w),
            nn.MaxPool2d(2),
            _conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(drop_rate), nn.Linear(4 * w, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


class AlexNet(nn.Module):
    """The classic five-convolution AlexNet (Krizhevsky et al., 2012), single-stream, with BN-free
    layers as in the paper; adaptive pooling lets it take inputs smaller than 224 px (>= 32 px).

    torchvision's `alexnet` has the same layers: its state dict loads with `classifier.N` read as
    `head.M` (`state_dict_aliases`, used by models/weight_files.apply_state_dict); outputs agree
    wherever the pooling sizes do (ceil-mode pooling here, floor there: 224 px, 64 px, ...)."""

    state_dict_aliases = {
        "classifier.1.": "head.2.",
        "classifier.4.": "head.5.",
        "classifier.6.": "head.7.",
    }

    def __init__(self, num_classes: int, in_chans: int = 3, drop_rate: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
        )
        self.pool = nn.AdaptiveAvgPool2d((6, 6))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(drop_rate),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    """The nine-layer residual network of the CIFAR-10 speed runs (Page, "How to train your
    ResNet", 2018; the DAWNBench winner): prep, three conv-BN-ReLU-pool stages with a residual
    pair after the first and the last, global max pooling and a linear head scaled by 1/8.

    `width` is the prep layer's channels (64 in the paper; the stages have 2x, 4x and 8x). Made
    for small images (28-64 px): three 2x poolings, no strided stem.
    """

    def __init__(
        self, num_classes: int, in_chans: int = 3, width: int = 64, drop_rate: float = 0.0
    ):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn(in_chans, w),
            _conv_bn(w, 2 * w),
            nn.MaxPool2d(2),
            _Residual(2 * w),
            _conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _conv_bn(4 * w, 8 * w),
            nn.MaxPool2d(2),
            _Residual(8 * w),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(drop_rate), nn.Linear(8 * w, num_classes)
        )
        self.scale = 0.125  # keeps the initial logits small, as in the paper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x))) * self.scale
