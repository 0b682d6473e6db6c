"""Mask files: decoding without scaling, value conventions, colour maps, image/mask pairing.

Masks are decoded here, not by `data.io.decode_image`, because their values are labels: a
class-index PNG must keep its exact values (no range scaling, no colour conversion).

How values become classes (`MaskSpec`):

* binary (no `num_classes`, or 2): a pixel is foreground when its value is not 0, so 0/1 and
  0/255 masks both work. When masks hold other values too (anti-aliased or JPEG-compressed
  masks), a pixel is foreground when its value is >= 128 instead, and a note says so.
* class-index masks (`num_classes` K > 2): the value is the class, 0..K-1; another value is an error
  naming the file (so a JPEG class-index mask, whose lossy values stray from the ids, is refused
  by check and train alike: save class-index masks as PNG).
* palette PNGs ("P" mode) give their palette indices, as class-index masks do.
* colour masks (RGB) need a colour map (colour -> class); an RGB mask whose channels are all
  equal is read as a grayscale one.
* an ignore value (`--ignore-index N`): pixels of value N become `IGNORE` in the class map, which
  the losses and the scores leave out.

Which of these the values found mean is decided (and said) in data/mask_values.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from visionfit.colour_map import _parse_colour, parse_colour_map
from visionfit.data.dicom import dicom_size
from visionfit.data.io import ImageDecodeError, open_image
from visionfit.data.listing import SkipDir, list_images
from visionfit.errors import DataError
from visionfit.fileio import open_regular

__all__ = [
    "IGNORE",
    "MaskSpec",
    "decode_mask",
    "mask_to_classes",
    "beside_suffix",
    "pair_beside",
    "pair_images_masks",
    "parse_colour_map",
    "read_mask",
    "voc_palette",
]


# Folder names of a segmentation layout (DATA/images + DATA/masks), lower-cased: the segmentation
# reader looks for them, and the classification reader refuses them as classes
IMAGES_DIR_NAMES = ("images", "imgs", "image")
MASKS_DIR_NAMES = ("masks", "mask", "labels", "annotations")

# The class maps' value for a pixel left out of the loss and the scores (a mask value given as
# --ignore-index); with it at most 255 classes.
IGNORE = 255


@dataclass(frozen=True)
class MaskSpec:
    """How raw mask values map to class indices (see the module docstring)."""

    num_classes: int = 2
    binary_rule: str = "nonzero"  # "nonzero" or "ge128"; binary masks only
    colour_map: tuple[tuple[tuple[int, int, int], int], ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)
    # why no rule fits the masks' values (check goes on with this spec; train raised it)
    problem: str | None = field(default=None, compare=False)
    ignore_value: int | None = None  # raw mask value read as IGNORE (--ignore-index)
    # what the values found mean, one sentence per decision (check and train say them)
    decisions: tuple[str, ...] = field(default=(), compare=False)

    @property
    def binary(self) -> bool:
        return self.num_classes == 2

    @property
    def class_ignore(self) -> int | None:
        """The class maps' value for ignored pixels (IGNORE), or None without an ignore value:
        what the losses and the scores are told to leave out."""
        return None if self.ignore_value is None else IGNORE

    def unexpected_values(self, values: Iterable[int]) -> list[int]:
        """A grayscale/index mask's values this spec cannot read as classes: the one test
        check and train share. Binary masks read every value (non-zero, or >= 128 for
        anti-aliased and JPEG masks); class-index masks only 0..K-1."""
        if self.colour_map or self.binary:
            return []
        return sorted(
            int(v)
            for v in values
            if not 0 <= int(v) < self.num_classes and int(v) != self.ignore_value
        )

    def to_json(self) -> dict:
        return {
            "num_classes": self.num_classes,
            "binary_rule": self.binary_rule,
            "colour_map": [[list(c), k] for c, k in self.colour_map],
            "ignore_value": self.ignore_value,
        }

    @classmethod
    def from_json(cls, d: Mapping) -> MaskSpec:
        cmap = tuple((tuple(int(v) for v in c), int(k)) for c, k in d.get("colour_map", []))
        ignore = d.get("ignore_value")
        return cls(
            int(d["num_classes"]),
            str(d.get("binary_rule", "nonzero")),
            cmap,
            ignore_value=None if ignore is None else int(ignore),
        )


# --------------------------------------------------------------------------------------------------
# Decoding


def decode_mask(path: str | Path) -> np.ndarray:
    """The raw values of a mask file: (H, W) integers, or (H, W, 3) uint8 for a colour mask.

    Palette images give their indices, "1" images 0/1, 16-bit images their exact values; EXIF
    orientation is applied as for images. Raises ImageDecodeError for unreadable files.
    """
    img = open_image(str(path))
    try:
        img = ImageOps.exif_transpose(img) or img
        mode = img.mode
        if mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"):
            arr = np.asarray(img)
        elif mode == "1":
            arr = np.asarray(img, dtype=np.uint8)
        elif mode in ("LA", "PA"):
            arr = np.asarray(img)[:, :, 0]
        elif mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr"):
            arr = np.asarray(img.convert("RGB"))
            if (arr[:, :, 0] == arr[:, :, 1]).all() and (arr[:, :, 0] == arr[:, :, 2]).all():
                arr = arr[:, :, 0]
        elif mode == "F":
            arr = np.asarray(img)
            if not np.array_equal(arr, np.round(arr)):
                raise DataError(f"mask {path} holds fractional values; masks must be integers")
            arr = arr.astype(np.int64)
        else:
            raise ImageDecodeError(str(path), "unsupported format", f"mask mode {mode}")
    finally:
        img.close()
    return np.ascontiguousarray(arr)


def mask_to_classes(raw: np.ndarray, spec: MaskSpec, where: str = "mask") -> np.ndarray:
    """Class indices (uint8, H x W) from raw mask values, IGNORE where the mask holds the
    ignore value; raises DataError naming `where`."""
    if spec.ignore_value is not None and raw.ndim == 2:
        ignored = raw == spec.ignore_value
        if ignored.any():
            kept = np.where(ignored, 0, raw)
            out = mask_to_classes(kept, replace(spec, ignore_value=None), where)
            out[ignored] = IGNORE
            return out
    if spec.colour_map:
        return _map_colours(raw, spec, where)
    if raw.ndim == 3:
        raise DataError(
            f"{where} is a colour (RGB) mask: give a colour -> class map with --colour-map "
            "(e.g. '0,0,0=0;255,0,0=1' or a JSON file)"
        )
    if spec.binary:
        fg = raw >= 128 if spec.binary_rule == "ge128" else raw != 0
        return fg.astype(np.uint8)
    if raw.size and (int(raw.max()) >= spec.num_classes or int(raw.min()) < 0):
        bad = sorted(int(v) for v in np.unique(raw) if v < 0 or v >= spec.num_classes)
        raise DataError(
            f"{where} has values {_short(bad)} outside the classes 0..{spec.num_classes - 1} "
            f"(--num-classes {spec.num_classes}); fix the mask or raise --num-classes"
        )
    return raw.astype(np.uint8)


def _map_colours(raw: np.ndarray, spec: MaskSpec, where: str) -> np.ndarray:
    rgb = raw if raw.ndim == 3 else np.repeat(raw[:, :, None], 3, axis=2)
    rgb = rgb.astype(np.int64)
    codes = (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]
    keys = np.array([(c[0] << 16) | (c[1] << 8) | c[2] for c, _ in spec.colour_map], np.int64)
    vals = np.array([k for _, k in spec.colour_map], np.uint8)
    order = np.argsort(keys)
    keys, vals = keys[order], vals[order]
    idx = np.clip(np.searchsorted(keys, codes), 0, len(keys) - 1)
    known = keys[idx] == codes
    if not known.all():
        unknown = np.unique(codes[~known])[:5]
        names = ", ".join(f"({v >> 16},{(v >> 8) & 255},{v & 255})" for v in unknown.tolist())
        raise DataError(
            f"{where} has colours not in the colour map: {names}; add them to --colour-map"
        )
    return vals[idx]


def read_mask(path: str | Path, spec: MaskSpec) -> np.ndarray:
    """Decode a mask file and map it to class indices (uint8, H x W)."""
    return mask_to_classes(decode_mask(path), spec, where=f"mask {path}")


def voc_palette() -> list[int]:
    """VOC's 256-colour palette (the devkit's bit-interleaved colour map), flat RGB: class 1 is
    (128, 0, 0), 255 (void) is (224, 224, 192)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal.reshape(-1).tolist()


def _short(values: list, n: int = 8) -> str:
    text = ", ".join(map(str, values[:n]))
    return text + (", ..." if len(values) > n else "")


# --------------------------------------------------------------------------------------------------
# Colour maps


def colour_map_tuples(cmap: Mapping[str, int] | None) -> tuple:
    if not cmap:
        return ()
    return tuple(sorted((_parse_colour(c), int(k)) for c, k in cmap.items()))


# --------------------------------------------------------------------------------------------------
# Pairing images with masks


def _image_files(folder: Path, skip_dir: SkipDir | None = None) -> list[Path]:
    return [p for p in list_images(folder, skip_dir).images if p.is_file()]


def _key(path: Path, folder: Path, suffix: str = "") -> str:
    rel = path.relative_to(folder).with_suffix("")
    key = rel.as_posix()
    if suffix:
        key = key.removesuffix(suffix)
    return key


def pair_images_masks(
    images_dir: str | Path,
    masks_dir: str | Path,
    *,
    mask_suffix: str = "",
    skip_dir: SkipDir | None = None,
) -> list[tuple[Path, Path]]:
    """Pair `images_dir/<stem>.*` with `masks_dir/<stem><mask_suffix>.*` (sub-folders mirrored).

    Every image needs exactly one mask and every mask one image; otherwise a DataError names the
    files (the first few) and suggests a --mask-suffix when one would make them pair.
    Folders `skip_dir` refuses (visionfit's run and cache folders) are not read.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for d, what in ((images_dir, "images"), (masks_dir, "masks")):
        if not d.is_dir():
            raise DataError(f"{what} folder not found: {d}")
    images, masks = _image_files(images_dir, skip_dir), _image_files(masks_dir, skip_dir)
    if not images:
        raise DataError(f"no images found in {images_dir} (png jpg jpeg bmp tif tiff webp dcm)")
    if not masks:
        raise DataError(f"no mask files found in {masks_dir}")

    by_image = _index(images, images_dir, "", "images")
    if mask_suffix:
        odd = [m for m in masks if not m.with_suffix("").name.endswith(mask_suffix)]
        if odd:
            raise DataError(
                f"{len(odd)} mask files do not end in --mask-suffix {mask_suffix!r}, e.g. "
                f"{', '.join(str(m) for m in odd[:3])}"
            )
    by_mask = _index(masks, masks_dir, mask_suffix, "masks")

    no_mask = sorted(set(by_image) - set(by_mask))
    no_image = sorted(set(by_mask) - set(by_image))
    if no_mask or no_image:
        parts = []
        if no_mask:
            files = ", ".join(str(by_image[k]) for k in no_mask[:3])
            parts.append(f"{len(no_mask)} images have no mask in {masks_dir} (e.g. {files})")
        if no_image:
            files = ", ".join(str(by_mask[k]) for k in no_image[:3])
            parts.append(f"{len(no_image)} masks have no image in {images_dir} (e.g. {files})")
        hint = _suffix_hint(by_image, masks, masks_dir, mask_suffix)
        raise DataError("; ".join(parts) + hint)
    return [(by_image[k], by_mask[k]) for k in sorted(by_image)]


def _index(files: list[Path], folder: Path, suffix: str, what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        k = _key(f, folder, suffix)
        if k in out:
            raise DataError(
                f"two {what} files share the name {k!r}: {out[k]} and {f}; "
                "images and masks pair by file name without extension"
            )
        out[k] = f
    return out


# Endings that mark a mask beside its image in one folder (x.png + x_mask.png), in the order tried
PAIR_SUFFIXES = ("_mask", "-mask", "_seg")


def _ends_with(path: Path, folder: Path, suffix: str) -> bool:
    return _key(path, folder).lower().endswith(suffix.lower())


def beside_suffix(
    folder: str | Path, mask_suffix: str = "", skip_dir: SkipDir | None = None
) -> str:
    """The ending that marks masks beside their images in `folder` (x.png + x_mask.png):
    `mask_suffix` when given, else the first of PAIR_SUFFIXES that some file's name without
    extension ends with while the rest names another image in the same folder; "" when none."""
    folder = Path(folder)
    files = _image_files(folder, skip_dir)
    keys = {_key(f, folder).lower() for f in files}
    for cand in (mask_suffix,) if mask_suffix else PAIR_SUFFIXES:
        stems = [_key(f, folder).lower() for f in files if _ends_with(f, folder, cand)]
        if any(s[: len(s) - len(cand)] in keys for s in stems):
            return cand
    return ""


def pair_beside(
    folder: str | Path, suffix: str, *, skip_dir: SkipDir | None = None
) -> list[tuple[Path, Path]]:
    """Pair images with the masks beside them in one folder (sub-folders searched, a mask beside
    its own image): `<stem><suffix>.*` (suffix case ignored) is the mask of `<stem>.*`, whatever
    either's extension (x.jpg + x_mask.png, x.png + x_mask.tif). Every image needs one mask and
    every mask one image; otherwise a DataError names the files."""
    folder = Path(folder)
    files = _image_files(folder, skip_dir)
    masks = [f for f in files if _ends_with(f, folder, suffix)]
    images = [f for f in files if not _ends_with(f, folder, suffix)]
    if not masks or not images:
        raise DataError(f"no image/mask pairs (x.png + x{suffix}.png) found in {folder}")
    by_image = _index(images, folder, "", "images")
    by_mask: dict[str, Path] = {}
    for m in masks:
        k = _key(m, folder)
        k = k[: len(k) - len(suffix)]
        if k in by_mask:
            raise DataError(f"two masks of {k!r} in {folder}: {by_mask[k]} and {m}")
        by_mask[k] = m
    no_mask = sorted(set(by_image) - set(by_mask))
    no_image = sorted(set(by_mask) - set(by_image))
    if no_mask or no_image:
        parts = []
        if no_mask:
            files_ = ", ".join(str(by_image[k]) for k in no_mask[:3])
            parts.append(
                f"{len(no_mask)} images have no <name>{suffix} mask beside them ({files_})"
            )
        if no_image:
            files_ = ", ".join(str(by_mask[k]) for k in no_image[:3])
            parts.append(f"{len(no_image)} masks have no image beside them ({files_})")
        raise DataError(f"in {folder}: " + "; ".join(parts))
    return [(by_image[k], by_mask[k]) for k in sorted(by_image)]


def _suffix_hint(
    by_image: dict[str, Path], masks: list[Path], masks_dir: Path, current: str
) -> str:
    """' (try --mask-suffix _mask)' when stripping a common ending makes masks pair with images."""
    stems = [_key(m, masks_dir) for m in masks]
    for cand in ("_mask", "-mask", "_masks", "_seg", "_label", "_gt", "_segmentation", "_m"):
        if cand == current:
            continue
        stripped = {s.removesuffix(cand) for s in stems if s.endswith(cand)}
        if stripped and len(stripped & set(by_image)) >= max(1, len(stems) // 2):
            return f" (masks are named <image>{cand}.*: add --mask-suffix {cand})"
    if current:
        plain = {_key(m, masks_dir) for m in masks}
        if len(plain & set(by_image)) >= max(1, len(stems) // 2):
            return f" (masks share the image names: drop --mask-suffix {current})"
    return ""


def size_mismatch_text(image, mask, image_size, mask_size) -> str:
    """'image IMG is WxH but its mask MASK is WxH' (sizes as (height, width)): which file is
    the image and which the mask, both named, in every message about it."""
    return (
        f"image {image} is {image_size[1]}x{image_size[0]} but its mask {mask} is "
        f"{mask_size[1]}x{mask_size[0]}"
    )


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from the file header, or None when the file cannot be opened."""
    try:  # open_regular: a FIFO or a device among the images is refused, not waited on
        with open_regular(path) as f, Image.open(f) as img:
            w, h = img.size
            orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
    except Exception:
        return dicom_size(path)  # None when it is no DICOM file either
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
