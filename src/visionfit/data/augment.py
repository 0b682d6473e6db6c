"""Training augmentation as data: albumentations pipelines in albumentations' own serialisation.

`--augment` (config ``augment.preset``) names a preset shipped with the package
(``data/augment_presets/<name>.yaml``) or a user's file, ``.yaml``/``.yml`` or ``.json``, in the
format ``A.to_dict`` / ``A.save`` write and ``A.from_dict`` / ``A.load`` read:

    transform:
      __class_fullname__: Compose
      transforms:
      - {__class_fullname__: HorizontalFlip, p: 0.5}
      - {__class_fullname__: Rotate, limit: [-45, 45], p: 0.6}

A file holds the train-time augmentation only. visionfit adds its own resize first (the input
size, `--img-size`) and normalise + tensor last (the model's mean/std), so `Resize`,
`LongestMaxSize`, `SmallestMaxSize`, `Normalize`, `ToFloat` and `ToTensorV2` in a file are
refused with a line saying so: kept, they would resize twice or normalise twice. An op that
crops or pads (a `RandomCrop`, `PadIfNeeded`, ...) is followed by a resize back to the input
size, so every image of a batch has one shape. Masks move with their images: every op that
interpolates masks does it with nearest neighbour (``mask_interpolation`` is set to
``INTER_NEAREST`` where the op has it), so class indices stay exact.

Files are read with the project's bounded readers (`config.values.read_yaml`, or JSON from
`fileio.read_regular_text`) and built with ``A.from_dict``: never ``A.load``, whose YAML reader is
not a safe one. `--vflip` and `--rot90` (``augment.vflip``, ``augment.rot90``) append a vertical
flip and a random 90-degree rotation to any pipeline. What a run trained with is written to its
directory as ``augment.yaml`` (`augment_text`), loadable with ``A.from_dict`` and as `--augment`.

TrivialAugment (the ``trivial`` preset): albumentations has no RandAugment / TrivialAugment and
torchvision's ``TrivialAugmentWide`` draws from torch's global generator on tensors, escaping the
per-sample seeding that makes a resumed run repeat its augmentation (data/datasets.py) and unable
to move a mask. So it is an albumentations ``OneOf`` over the same operations, each with
torchvision's "wide" strength range drawn uniformly, seeded like every other preset.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import yaml
from albumentations.pytorch import ToTensorV2  # noqa: F401 (registers the name A.from_dict reads)

from visionfit.config.sections import AUGMENT_FILE_SUFFIXES, AUGMENT_PRESETS
from visionfit.config.values import MAX_YAML_BYTES, load_yaml_text, read_yaml
from visionfit.errors import DataError, VisionfitError
from visionfit.fileio import UnreadableFileError, read_regular_text
from visionfit.text import clip

PRESETS_DIR = Path(__file__).parent / "augment_presets"

# ops that are visionfit's own job, around the augmentation: why each is refused in a file
_REFUSED = {
    "Resize": "visionfit resizes to --img-size first",
    "LongestMaxSize": "visionfit resizes to --img-size first",
    "SmallestMaxSize": "visionfit resizes to --img-size first",
    "Normalize": "visionfit normalises last with the model's mean/std",
    "ToFloat": "visionfit normalises last with the model's mean/std",
    "ToTensorV2": "visionfit converts to a tensor last",
}
# albumentations modules whose ops may change an image's shape (crops, padding)
_SHAPE_MODULES = ("crops", "PadIfNeeded", "Pad")


def list_presets() -> list[str]:
    """The preset names, one per file shipped in data/augment_presets/."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def is_preset(spec: str) -> bool:
    return spec in AUGMENT_PRESETS


def read_augment(spec: str) -> A.Compose:
    """The augmentation named by `spec` (a preset name or a file), checked: one-line DataError
    naming the file and what is wrong (not found, not YAML/JSON, an unknown op or argument, an op
    that is visionfit's own)."""
    if is_preset(spec):
        path = PRESETS_DIR / f"{spec}.yaml"
    else:
        path = Path(spec)
        if path.suffix.lower() not in AUGMENT_FILE_SUFFIXES:
            raise DataError(
                f"--augment {spec!r}: not a preset ({', '.join(AUGMENT_PRESETS)}) nor an "
                "albumentations pipeline file (.yaml, .yml or .json)"
            )
    return pipeline_from_dict(_read_file(path), str(path))


def _read_file(path: Path) -> dict:
    what = "augmentation pipeline"
    if path.suffix.lower() != ".json":
        try:
            return read_yaml(
                path,
                what=what,
                missing="augmentation pipeline file not found",
                not_mapping="is not an albumentations pipeline (a mapping with 'transform')",
            )
        except VisionfitError as e:
            raise DataError(str(e)) from None
    try:
        text = read_regular_text(path, max_bytes=MAX_YAML_BYTES)
    except UnreadableFileError as e:
        why = f"augmentation pipeline file not found: {path}" if e.missing else f"cannot read {e}"
        raise DataError(why) from None
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise DataError(f"{what} {path} is not valid JSON: {clip(str(e), 120)}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{what} {path} is not an albumentations pipeline (a JSON object)")
    return raw


def pipeline_from_dict(raw: dict, origin: str = "augmentation pipeline") -> A.Compose:
    """``A.from_dict`` of `raw` ({"transform": {...}} as A.to_dict writes it, or one transform's
    own mapping), as a Compose of checked ops with nearest-neighbour mask interpolation."""
    node = raw.get("transform", raw) if isinstance(raw, dict) else raw
    if not isinstance(node, dict) or "__class_fullname__" not in node:
        raise DataError(
            f"{origin}: not an albumentations pipeline: expected a mapping with 'transform' "
            "holding '__class_fullname__' (as A.to_dict / A.save write it)"
        )
    _check_names(node, origin)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            built = A.from_dict({"transform": node})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"{origin}: {_why(e)}") from None
    bad = [str(w.message) for w in caught if "are not valid for transform" in str(w.message)]
    if bad:
        raise DataError(f"{origin}: {bad[0]} (see the transform's albumentations documentation)")
    compose = built if isinstance(built, A.Compose) else A.Compose([built])
    _nearest_masks(compose)
    return compose


def _check_names(node: dict, origin: str) -> None:
    """Refuse visionfit's own ops and name unknown ones (A.from_dict says only KeyError)."""
    name = str(node.get("__class_fullname__"))
    short = name.rsplit(".", 1)[-1]
    if short in _REFUSED:
        raise DataError(
            f"{origin}: {short} does not belong in an augmentation file ({_REFUSED[short]}); "
            "remove it"
        )
    from albumentations.core.serialization import SERIALIZABLE_REGISTRY

    if name not in SERIALIZABLE_REGISTRY:
        raise DataError(
            f"{origin}: unknown albumentations transform {clip(name, 60)!r} "
            f"(albumentations {A.__version__})"
        )
    children = node.get("transforms", [])
    if not isinstance(children, list):
        raise DataError(f"{origin}: {short}'s 'transforms' must be a list of transforms")
    for child in children:
        if not isinstance(child, dict):
            raise DataError(f"{origin}: {short}'s 'transforms' holds {clip(repr(child), 60)}")
        _check_names(child, origin)


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())
    if "validation error" in text:  # pydantic's InitSchema: say the first field and problem
        parts = str(e).splitlines()
        field = parts[1].strip().split(".")[0] if len(parts) > 1 else ""
        detail = parts[2].strip().split(" [type=")[0] if len(parts) > 2 else ""
        return f"bad argument {field}: {clip(detail, 120)}"
    return f"cannot build the pipeline: {clip(text, 160)}"


def _walk(t):
    yield t
    for child in getattr(t, "transforms", []) or []:
        yield from _walk(child)


def _nearest_masks(compose: A.BaseCompose) -> None:
    """Masks hold class indices: every op that interpolates them does it with nearest."""
    for t in _walk(compose):
        if hasattr(t, "mask_interpolation"):
            t.mask_interpolation = cv2.INTER_NEAREST


def fill_masks(compose: A.BaseCompose, value: int) -> None:
    """Mask pixels an op invents (rotation/affine borders, padding with a constant) get `value`
    (segmentation's ignore value) instead of 0, where the op lets the mask fill be chosen
    (albumentations' `fill_mask`); ops that leave the mask alone (`fill_mask=None`, e.g.
    CoarseDropout) or reflect its border keep doing so."""
    for t in _walk(compose):
        constant = getattr(t, "border_mode", cv2.BORDER_CONSTANT) == cv2.BORDER_CONSTANT
        if getattr(t, "fill_mask", None) == 0 and constant:
            t.fill_mask = value


def changes_shape(compose: A.BaseCompose) -> bool:
    """True when an op may change the image's height or width (a crop or a pad)."""
    for t in _walk(compose):
        module, name = type(t).__module__, type(t).__name__
        if any(s in module or s == name for s in _SHAPE_MODULES):
            return True
        if getattr(t, "fit_output", False):  # Affine / Perspective grown to fit
            return True
    return False


def create_augment(aug) -> A.Compose:
    """The training augmentation of an AugmentConfig: its preset or file (without its horizontal
    flips when `hflip` is false), then a vertical flip (`vflip`) and a random 90-degree rotation
    (`rot90`) when asked for."""
    compose = read_augment(aug.preset)
    if not getattr(aug, "hflip", True):
        compose = without_hflips(compose)
    extra = []
    if getattr(aug, "vflip", False):
        extra.append(A.VerticalFlip(p=0.5))
    if getattr(aug, "rot90", False):
        extra.append(A.RandomRotate90(p=0.5))
    return A.Compose([*_ops_of(compose), *extra]) if extra else compose


def without_hflips(compose: A.BaseCompose) -> A.Compose:
    """`compose` without its HorizontalFlip ops, at any depth (a OneOf keeps its other ops)."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node if not _is_hflip(v)]
        return node

    return pipeline_from_dict(strip(augment_dict(compose)), "augmentation pipeline")


def _is_hflip(node) -> bool:
    name = node.get("__class_fullname__", "") if isinstance(node, dict) else ""
    return name.rsplit(".", 1)[-1] == "HorizontalFlip"


def _ops_of(compose: A.BaseCompose) -> list:
    """The ops of a pipeline to splice into another: its own list, or the pipeline itself as one
    op when it is applied only some of the time (a top-level `p` below 1)."""
    return list(compose.transforms) if compose.p >= 1 else [compose]


def augment_ops(augment: A.BaseCompose, img_size: int) -> list:
    """The ops create_transforms puts between its resize and its normalisation: the pipeline,
    then a resize back to `img_size` when the pipeline may crop or pad."""
    ops = _ops_of(augment)
    if changes_shape(augment):
        ops.append(A.Resize(img_size, img_size, mask_interpolation=cv2.INTER_NEAREST))
    return ops


def check_runs(
    compose: A.BaseCompose, img_size: int, in_chans: int, origin: str, tries: int = 16
) -> None:
    """Run the pipeline a few times (seeded) on a grey image and mask of the run's size, so that
    one that cannot run there (a 64 px hole in a 32 px image, an RGB-only op on grayscale) is
    one line before training, not an error inside a DataLoader worker."""
    pipe = A.Compose(augment_ops(compose, img_size))
    pipe.set_random_seed(0)
    image = np.full((img_size, img_size, in_chans), 127, np.uint8)
    mask = np.zeros((img_size, img_size), np.uint8)
    for _ in range(tries):
        try:
            pipe(image=image, mask=mask)
        except Exception as e:  # noqa: BLE001 - any failure of the user's pipeline is reported
            raise DataError(
                f"augmentation {origin} cannot run on a {img_size} x {img_size} x {in_chans} "
                f"image (--img-size, --in-chans): {type(e).__name__}: "
                f"{clip(' '.join(str(e).split()), 160)}"
            ) from None


def augment_dict(compose: A.BaseCompose) -> dict:
    """A.to_dict as plain YAML/JSON data (lists for tuples), without the version stamp."""
    raw = json.loads(json.dumps(A.to_dict(compose)))
    raw.pop("__version__", None)
    return raw


def augment_text(compose: A.BaseCompose, header: str = "") -> str:
    """The pipeline as YAML (albumentations' own format, read back by A.from_dict and by
    `--augment`), after `header`'s lines as comments."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(augment_dict(compose), sort_keys=False, default_flow_style=None)
    return comments + body


def run_augment_text(aug) -> str:
    """augment.yaml of a run trained with the AugmentConfig `aug`: the resolved pipeline."""
    flags = [f for f in ("vflip", "rot90") if getattr(aug, f, False)]
    source = f"preset {aug.preset!r}" if is_preset(aug.preset) else f"the file {aug.preset}"
    if not getattr(aug, "hflip", True):
        source += " without its horizontal flips (augment.hflip false)"
    if flags:
        source += " + " + " + ".join(f"--{f}" for f in flags)
    header = (
        f"The training augmentation of this run: {source}.\n"
        f"visionfit resized to {aug.img_size} px before it and normalised after it.\n"
        "Edit a copy and pass it back with --augment FILE (without --vflip/--rot90 if it holds "
        "them already)."
    )
    return augment_text(create_augment(aug), header)


def read_augment_text(text: str, origin: str) -> A.Compose:
    """A run's augment.yaml (its text) as a pipeline."""
    try:
        raw = load_yaml_text(text, origin=origin)
    except VisionfitError as e:
        raise DataError(str(e)) from None
    return pipeline_from_dict(raw if isinstance(raw, dict) else {}, origin)


def describe(compose: A.BaseCompose) -> str:
    """One line naming the ops and their probabilities, e.g. "HorizontalFlip (p 0.5), Affine
    (p 0.5)"; a OneOf as OneOf[names] (the README's preset table is this line)."""
    if not compose.transforms:
        return "nothing (resize and normalise only)"
    return ", ".join(_describe_op(t) for t in compose.transforms)


def _describe_op(t) -> str:
    name = type(t).__name__
    if isinstance(t, A.BaseCompose):
        counts: dict[str, int] = {}
        for child in t.transforms:
            counts[type(child).__name__] = counts.get(type(child).__name__, 0) + 1
        inner = ", ".join(f"{n} x{k}" if k > 1 else n for n, k in counts.items())
        name = f"{name}[{inner}]"
    return f"{name} (p {t.p:g})"
