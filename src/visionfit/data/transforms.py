"""The transforms of one stage, every task: resize first, the training augmentation (train only;
data/augment.py: a preset or an albumentations file), normalise + tensor last. Images arrive as
uint8 HxWxC arrays; tensors leave normalised. A mask passed with its image
(`t(image=..., mask=...)`) gets the same geometric transforms with nearest-neighbour
interpolation, so class indices stay exact.

Presets (data/augment_presets/*.yaml, the README's table is made from them):

  none    resize
  light   + horizontal flip
  medium  + shift-scale-rotate, brightness/contrast
  heavy   + coarse dropout (image only), gamma, Gaussian or salt-and-pepper noise
  trivial horizontal flip + TrivialAugment (Mueller & Hutter 2021)
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

from visionfit.data.augment import augment_ops, read_augment


def create_transforms(
    preset: str | A.BaseCompose,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool,
) -> A.Compose:
    """Build the pipeline for one stage; evaluation uses only resize + normalise. `preset`: the
    training augmentation, a preset name, a pipeline file or a loaded pipeline
    (`visionfit.data.augment.create_augment`).

    >>> t = create_transforms("light", 64, (0.5,) * 3, (0.5,) * 3, train=True)
    """
    nearest = {"mask_interpolation": cv2.INTER_NEAREST}
    ops: list = [A.Resize(img_size, img_size, interpolation=cv2.INTER_AREA, **nearest)]
    if train:
        augment = read_augment(preset) if isinstance(preset, str) else preset
        ops += augment_ops(augment, img_size)
    ops += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(ops)

