"""The limits a value read back from a run directory must meet before it is used (model.json,
classes.json): the very fields and validators training's config declares (`DataConfig.in_chans`,
`DataConfig.max_pixels`, `AugmentConfig.img_size`), so a hand-edited file cannot ask for what
`visionfit train` would have refused (a 100000-pixel `img_size` is 30 GB per image)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ValidationError

from visionfit.config.sections import AugmentConfig, DataConfig, ModelConfig
from visionfit.config.values import first_error
from visionfit.config.windows import parse_windows
from visionfit.errors import RunError
from visionfit.limits import MAX_CLASSES
from visionfit.text import clip

# key in model.json -> the config section that declares its field (same name there)
_CONFIG_FIELDS: dict[str, type[BaseModel]] = {
    "in_chans": DataConfig,
    "max_pixels": DataConfig,
    "img_size": AugmentConfig,
    "resize": AugmentConfig,  # squash | crop | pad (stored resolved, never auto)
    "crop_pct": AugmentConfig,
    "drop_rate": ModelConfig,
}
# names and rates every bundle stores, checked for their type (the task's own fields are checked
# by the network it builds: bundle.load_bundle_model turns its refusal into one line)
_NAMES = ("arch", "task", "task_family", "head")
_PROBABILITIES = ("threshold", "head_dropout")
_COUNTS = ("num_outputs", "num_classes")


def _damaged(origin: str, key: str, why: str) -> RunError:
    return RunError(
        f"{origin}: {key}: {why}; the file was changed since training: restore it or retrain"
    )


def check_model_meta(meta: dict, origin: str) -> None:
    """RunError (one line naming `origin` and the key) for the first stored value that training
    would refuse; keys that are absent are not required here (the loaders ask for those)."""
    for key, section in _CONFIG_FIELDS.items():
        if key in meta:
            if key == "resize" and meta[key] == "auto":
                raise _damaged(origin, key, "expected squash, crop or pad (got 'auto')")
            try:
                section.model_validate({key: meta[key]})
            except ValidationError as e:
                raise _damaged(origin, key, first_error(e).removeprefix(f"{key}: ")) from None
    for key in _COUNTS:
        if key in meta and meta[key] is not None:
            value = meta[key]
            if type(value) is not int or not 1 <= value <= MAX_CLASSES:
                raise _damaged(
                    origin, key, f"expected 1 to {MAX_CLASSES} (got {clip(repr(value))})"
                )
    for key in _NAMES:
        if key in meta and (not isinstance(meta[key], str) or not meta[key]):
            raise _damaged(origin, key, f"expected a name (got {clip(repr(meta[key]))})")
    for key in _PROBABILITIES:
        value = meta.get(key)
        values = value if isinstance(value, list) else [value]  # multi-label: one per label
        if value is not None and not all(_is_probability(v) for v in values):
            raise _damaged(origin, key, f"expected numbers from 0 to 1 (got {clip(repr(value))})")
    _check_interpolation(meta, origin)
    if meta.get("window") is not None:  # DICOM display windows, one channel each
        try:
            parse_windows(meta["window"])
        except (ValueError, TypeError) as e:
            raise _damaged(origin, "window", str(e)) from None
    if meta.get("classes") is not None:
        check_classes(meta["classes"], origin)
    chans = meta.get("in_chans", 3)
    for key in ("mean", "std"):
        if key in meta:
            _check_stats(meta[key], key, chans, origin)
    if "members" in meta:
        _check_members(meta["members"], origin)


def check_classes(classes: object, origin: str, key: str = "classes") -> list:
    """A stored list of class names: at most MAX_CLASSES plain names (str or number)."""
    if not isinstance(classes, list):
        raise _damaged(origin, key, f"expected a list of class names (got {clip(repr(classes))})")
    if len(classes) > MAX_CLASSES:
        raise _damaged(origin, key, f"{len(classes)} classes, over the limit of {MAX_CLASSES}")
    bad = next((c for c in classes if not isinstance(c, (str, int, float))), None)
    if bad is not None or any(isinstance(c, bool) for c in classes):
        raise _damaged(origin, key, f"a class name is not text (got {clip(repr(bad))})")
    return classes


def _check_interpolation(meta: dict, origin: str) -> None:
    """With `resize` (runs since --resize existed) `interpolation` is the one applied; before,
    it named the backbone's pretrained config, never applied, and is not checked."""
    value = meta.get("interpolation")
    if "resize" in meta and value is not None:
        ok = ("nearest", "bilinear", "bicubic", "area", "lanczos")
        if value not in ok:
            raise _damaged(
                origin,
                "interpolation",
                f"expected one of {', '.join(ok)} (got {clip(repr(value))})",
            )


def _check_stats(values: object, key: str, chans: int, origin: str) -> None:
    ok = (
        isinstance(values, list)
        and len(values) == chans
        and all(type(v) in (int, float) and math.isfinite(v) for v in values)
        and (key != "std" or all(v > 0 for v in values))
    )
    if not ok:
        want = f"{chans} finite numbers" + (" above 0" if key == "std" else "")
        raise _damaged(origin, key, f"expected {want}, one per channel (got {clip(repr(values))})")


def _check_members(members: object, origin: str) -> None:
    """An ensemble's member folders: a plain name inside the run directory ("." is the run
    itself: a baseline's refit), or "../name", a run beside it (an `auto` ensemble of its own
    runs); never a path further out."""
    ok = isinstance(members, list) and all(
        isinstance(m, str) and _plain_name(m.removeprefix("../")) for m in members
    )
    if not ok:
        raise _damaged(origin, "members", f"expected fold folder names (got {clip(repr(members))})")


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name != ".."


def _is_probability(v: object) -> bool:
    return type(v) in (int, float) and 0 <= v <= 1
