"""The transforms of one stage, every task: resize first, the training augmentation (train only;
data/augment.py: a preset or an albumentations file), normalise + tensor last. Images arrive as
uint8 HxWxC arrays (float32 values for high-bit-depth data, mapped to the 0..255 scale first by
the run's intensity op, data/intensity.py); tensors leave normalised. A mask passed with its image
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
import numpy as np
from albumentations.pytorch import ToTensorV2

from visionfit.data.augment import augment_ops, read_augment
from visionfit.data.intensity import ScaleIntensity
from visionfit.data.preprocess import CROP_RATIO, Preprocess, scale_size


def create_transforms(
    preset: str | A.BaseCompose,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool,
    pre: Preprocess | None = None,
) -> A.Compose:
    """Build the pipeline for one stage; evaluation uses only resize + normalise. `preset`: the
    training augmentation, a preset name, a pipeline file or a loaded pipeline
    (`visionfit.data.augment.create_augment`). `pre`: how the image becomes an img_size square
    (data/preprocess.py; default squash, area); its img_size, mean and std are the ones given
    here (`transforms_for` passes all from `pre`).

    >>> t = create_transforms("light", 64, (0.5,) * 3, (0.5,) * 3, train=True)
    """
    ops: list = intensity_ops(pre) + resize_ops(pre or Preprocess(img_size), train=train)
    if train:
        augment = read_augment(preset) if isinstance(preset, str) else preset
        ops += augment_ops(augment, img_size)
    ops += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(ops)


def transforms_for(preset: str | A.BaseCompose, pre: Preprocess, *, train: bool) -> A.Compose:
    """The pipeline of a run's resolved preprocessing (evaluation: preset "none")."""
    return create_transforms(preset, pre.img_size, pre.mean, pre.std, train=train, pre=pre)


def eval_transforms(meta: dict) -> A.Compose:
    """What a bundle's model.json says training's evaluation applied (predict, serve, Grad-CAM)."""
    return transforms_for("none", Preprocess.from_meta(meta), train=False)


def intensity_ops(pre: Preprocess | None) -> list:
    """The run's per-dataset intensity mapping (data/intensity.py), first: none for 8-bit runs."""
    if pre is None or pre.intensity is None:
        return []
    i = pre.intensity
    return [ScaleIntensity(i.mode, i.low, i.high)]


def resize_ops(pre: Preprocess, *, train: bool) -> list:
    """The first ops of every pipeline: the image (and mask) to an img_size square."""
    if pre.resize == "crop" and train:
        return [
            A.RandomResizedCrop(
                size=(pre.img_size, pre.img_size),
                scale=tuple(pre.crop_scale),
                ratio=CROP_RATIO,
                interpolation=_CV2[pre.interpolation],
                mask_interpolation=cv2.INTER_NEAREST,
            )
        ]
    return [FitSquare(pre.resize, pre.img_size, pre.interpolation, pre.crop_pct)]


_CV2 = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


class FitSquare(A.DualTransform):
    """Deterministic: squash, pad, or (evaluation) shorter side + centre crop to a square.

    squash/pad: an array that already is the target square is returned unchanged, so a cache
    that stored this op's output (data/cache.py) gives the same tensors as decoding the file."""

    def __init__(self, mode: str, size: int, interpolation: str, crop_pct: float, p: float = 1.0):
        super().__init__(p=p)
        self.mode, self.size = mode, int(size)
        self.interpolation, self.crop_pct = interpolation, float(crop_pct)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mode", "size", "interpolation", "crop_pct")

    def apply(self, img, **params):
        return _fit_square(img, self, self.interpolation, 0)

    def apply_to_mask(self, mask, **params):
        # OpenCV's nearest beside area (as before these options), else Pillow's, as the image
        return _fit_square(mask, self, "nearest" if self.interpolation != "area" else "cv2", 0)


def _fit_square(arr, op: FitSquare, interpolation: str, fill: int):
    h, w = arr.shape[:2]
    s = op.size
    if (h, w) == (s, s) and op.mode != "crop":
        return arr
    if op.mode == "squash":
        return _resample(arr, s, s, interpolation)
    if op.mode == "pad":
        scale = s / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        arr = _resample(arr, nh, nw, interpolation)
        top, left = (s - nh) // 2, (s - nw) // 2
        pad = [(top, s - nh - top), (left, s - nw - left)] + [(0, 0)] * (arr.ndim - 2)
        return np.pad(arr, pad, constant_values=fill)
    # crop, as torchvision's Resize(shorter side) + CenterCrop (what timm evaluates with)
    short = scale_size(s, op.crop_pct)
    if w <= h:
        nw, nh = short, int(short * h / w)
    else:
        nh, nw = short, int(short * w / h)
    arr = _resample(arr, nh, nw, interpolation)
    top, left = int(round((nh - s) / 2.0)), int(round((nw - s) / 2.0))
    return arr[top : top + s, left : left + s]


def _resample(arr, h: int, w: int, interpolation: str):
    """Pillow's resampling for all but area (OpenCV INTER_AREA) and "cv2" (OpenCV's nearest, for
    masks beside area); keeps a trailing channel axis."""
    if arr.shape[:2] == (h, w):
        return arr
    if interpolation in ("area", "cv2"):
        code = cv2.INTER_AREA if interpolation == "area" else cv2.INTER_NEAREST
        out = cv2.resize(arr, (w, h), interpolation=code)
    elif arr.dtype != np.uint8 or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        # Pillow resamples no float or N-channel image: OpenCV's kernel of the same name
        out = cv2.resize(arr, (w, h), interpolation=_CV2[interpolation])
    else:
        from PIL import Image

        squeeze = arr.ndim == 3 and arr.shape[2] == 1
        img = Image.fromarray(arr[:, :, 0] if squeeze else arr)
        out = np.array(img.resize((w, h), _PIL[interpolation]))
    return out[:, :, None] if arr.ndim == 3 and out.ndim == 2 else out


_PIL = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1}  # PIL.Image.Resampling
