"""U-Nets written out: the 2015 paper's net and its padded variant.

`UNetOriginal` follows Ronneberger, Fischer & Brox (2015): two unpadded 3x3 convolutions with ReLU
per level, 2x2 max pooling, 2x2 up-convolutions halving the channels, the encoder's feature map
centre-cropped and concatenated, a final 1x1 convolution. Every valid convolution loses a border,
so the output is smaller than the input: 572x572 in, 388x388 out. The paper predicts a large image
tile by tile with a mirrored border ("overlap-tile"); `overlap_tile_pad` gives that padding.

`UNet` is the same layout with padded convolutions and batch norm, so the output has the input's
size; inputs whose side is not a multiple of 16 are padded inside and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(cin: int, cout: int, *, padded: bool) -> nn.Sequential:
    if padded:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3),
        nn.ReLU(inplace=True),
    )


def centre_crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The central h x w window of the last two dimensions."""
    top = (x.shape[-2] - h) // 2
    left = (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]


class _UNetBase(nn.Module):
    padded: bool

    def __init__(self, num_classes: int = 1, in_chans: int = 3, width: int = 64, depth: int = 4):
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]  # 64, 128, 256, 512, 1024
        self.down = nn.ModuleList()
        cin = in_chans
        for w in widths:
            self.down.append(_double_conv(cin, w, padded=self.padded))
            cin = w
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(w * 2, w, kernel_size=2, stride=2))
            self.up_conv.append(_double_conv(w * 2, w, padded=self.padded))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)
        self.pool = nn.MaxPool2d(2)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for up, conv in zip(self.up, self.up_conv, strict=True):
            x = up(x)
            skip = centre_crop(skips.pop(), x.shape[-2], x.shape[-1])
            x = conv(torch.cat([skip, x], dim=1))
        return self.head(x)


class UNet(_UNetBase):
    """Padded U-Net: (N, C, H, W) -> (N, num_classes, H, W) for any H, W."""

    padded = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** (len(self.down) - 1)
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "constant")
        return self._forward(x)[..., :h, :w]


class UNetOriginal(_UNetBase):
    """The 2015 U-Net with valid convolutions: 572 x 572 in, 388 x 388 out (depth 4)."""

    padded = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for size in x.shape[-2:]:
            if not self.is_valid_input(int(size)):
                raise ValueError(
                    f"unet_original cannot take a side of {size} px: valid sizes are "
                    f"{', '.join(map(str, self.valid_sizes_near(int(size))))} (16k + 124, >= 188)"
                )
        return self._forward(x)

    @property
    def depth(self) -> int:
        return len(self.down) - 1

    def output_size(self, size: int) -> int:
        """Output side for an input side, or 0 if the size does not fit the net."""
        s = size
        for _ in range(self.depth):
            s -= 4
            if s <= 0 or s % 2:
                return 0
            s //= 2
        s -= 4
        for _ in range(self.depth):
            s = 2 * s - 4
            if s <= 0:
                return 0
        return s

    def is_valid_input(self, size: int) -> bool:
        return self.output_size(size) > 0

    def valid_sizes_near(self, size: int, n: int = 3) -> list[int]:
        below = [s for s in range(size, 0, -1) if self.is_valid_input(s)][:1]
        above = [s for s in range(size + 1, size + 64 * n) if self.is_valid_input(s)][:n]
        return sorted(set(below + above))[:n]

    def margin(self) -> int:
        """Pixels lost on each side: (input - output) / 2 (92 for depth 4)."""
        for s in range(16, 4096):
            if self.is_valid_input(s):
                return (s - self.output_size(s)) // 2
        raise RuntimeError("no valid input size")

    def overlap_tile_input(self, size: int) -> int:
        """The smallest valid input side whose output covers `size` pixels (overlap-tile)."""
        s = size + 2 * self.margin()
        while not self.is_valid_input(s):
            s += 1
        return s


def overlap_tile_predict(model: UNetOriginal, x: torch.Tensor) -> torch.Tensor:
    """Logits for every pixel of `x` (N, C, H, W) from the valid-convolution net.

    The input is mirrored at its borders up to a valid size (the paper's overlap-tile strategy)
    and the output window that lines up with the original pixels is cut out.
    """
    # Plain ints: a traced graph (ONNX / TorchScript export, fixed H and W) then holds the
    # padding as constants instead of the whole size search below.
    h, w = int(x.shape[-2]), int(x.shape[-1])
    margin = model.margin()
    ih, iw = model.overlap_tile_input(h), model.overlap_tile_input(w)
    top, left = margin + (ih - 2 * margin - h) // 2, margin + (iw - 2 * margin - w) // 2
    pad = (left, iw - w - left, top, ih - h - top)
    mode = "reflect" if max(pad) < min(h, w) else "replicate"
    out = model(F.pad(x, pad, mode=mode))
    return out[..., top - margin : top - margin + h, left - margin : left - margin + w]
