"""What mask values mean: the one decision `check` states and `train` follows.

From the distinct values found in the masks, `--mask-values` (auto | binary | index),
`--num-classes` and `--ignore-index`, `detect_mask_spec` decides how values become classes and
writes that decision as sentences (`MaskSpec.decisions`), which check prints, its JSON report
holds and train prints when it starts:

| values found                       | auto reads them as                                    |
| ---------------------------------- | ----------------------------------------------------- |
| {0, v} (e.g. {0, 1}, {0, 255})     | binary, v = foreground                                |
| {0, 1, 2, 3} (all below 64)        | class indices, max + 1 classes                        |
| many values near 0 and near 255    | binary, >= 128 = foreground (anti-aliased / JPEG)     |
| small indices and one high value   | ambiguous ({0, 1, 255}: ignore value or binary?):     |
|   (e.g. {0, 1, 255})               | refused until --ignore-index or --mask-values says    |

`--mask-values binary`: >= 128 is foreground when any value reaches 128, else non-zero (0/1
masks). `--mask-values index`: every value is a class, 0..K-1 (K = --num-classes or the largest
value + 1). `--ignore-index N`: pixels of value N are read as `IGNORE` in the class maps, which
the losses and the scores leave out (and which a prediction never holds); the other values are
decided as above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from visionfit.data.masks import IGNORE, MaskSpec, colour_map_tuples
from visionfit.errors import DataError

__all__ = ["IGNORE", "detect_mask_spec", "rle_decisions", "values_text"]

# --mask-values (named as constants: "binary" here is a way to read masks, not a label mode)
AUTO, BINARY, INDEX = "auto", "binary", "index"
MODES = (AUTO, BINARY, INDEX)
# auto: values below this are read as class indices; one value >= 128 beside them is ambiguous
INDEX_BELOW = 64


def values_text(values: Iterable[int], n: int = 8) -> str:
    """'{0, 1, 255}', or '{0, 1, 2, 3, ..., 254, 255} (40 values)' for many."""
    vals = sorted(int(v) for v in values)
    if len(vals) <= n:
        return "{" + ", ".join(map(str, vals)) + "}"
    shown = vals[: n - 2]
    head = ", ".join(map(str, shown))
    return "{" + head + f", ..., {vals[-2]}, {vals[-1]}}} ({len(vals)} values)"


def rle_decisions(num_classes: int = 2, class_col: str = "") -> tuple[str, ...]:
    """What an RLE CSV's masks mean: binary without a class column, else class indices."""
    if not class_col:
        return ("RLE masks: binary, pixels in a run = foreground",)
    return (
        f"RLE masks: class indices from {class_col}, {num_classes} classes (background 0 and "
        f"{class_col} 1..{num_classes - 1}); where classes overlap the higher {class_col} wins",
    )


def detect_mask_spec(
    value_sets: Iterable[Iterable[int]],
    *,
    num_classes: int | None = None,
    colour_map: Mapping[str, int] | None = None,
    mask_values: str = "auto",
    ignore_index: int | None = None,
) -> MaskSpec:
    """Decide how raw mask values become classes from the values seen in the masks.

    `value_sets` holds, per mask, its distinct raw values (grayscale/index masks). Raises
    DataError when the values do not fit what was asked, or (auto) are ambiguous.
    """
    if mask_values not in MODES:
        raise DataError(f"--mask-values {mask_values!r}: choose auto, binary or index")
    cmap = colour_map_tuples(colour_map)
    if cmap:
        return _colour_spec(cmap, num_classes, ignore_index)
    seen: set[int] = set()
    for values in value_sets:
        seen.update(int(v) for v in values)
    vals = seen - {ignore_index} if ignore_index is not None else seen
    mode = _mode(mask_values, num_classes)
    if mode == INDEX:
        spec = _index_spec(vals, num_classes, ignore_index)
    elif mode == BINARY:
        spec = _binary_spec(vals, "ge128" if max(vals, default=0) >= 128 else "nonzero")
    else:
        spec = _auto_spec(vals, ignore_index)
    return _with_ignore(spec, seen, ignore_index)


def _mode(mask_values: str, num_classes: int | None) -> str:
    if num_classes is not None and num_classes < 2:
        raise DataError("--num-classes must be at least 2 (background and one class)")
    if num_classes is None:
        return mask_values
    if num_classes > 2:
        if mask_values == BINARY:
            raise DataError(
                f"--mask-values binary reads two classes but --num-classes is {num_classes}: "
                "drop one of them"
            )
        return INDEX
    return BINARY if mask_values == AUTO else mask_values


def _colour_spec(cmap: tuple, num_classes: int | None, ignore_index: int | None) -> MaskSpec:
    if ignore_index is not None:
        raise DataError(
            "--ignore-index reads grayscale or index masks; colour masks go through --colour-map"
        )
    k = max(k for _, k in cmap) + 1
    if num_classes is not None and num_classes < k:
        raise DataError(f"the colour map uses class {k - 1} but --num-classes is {num_classes}")
    k = max(k, num_classes or 2, 2)
    line = f"colour masks: {len(cmap)} colours mapped to {k} classes (--colour-map)"
    return MaskSpec(k, "nonzero", cmap, decisions=(line,))


def _index_spec(vals: set[int], num_classes: int | None, ignore: int | None) -> MaskSpec:
    k = num_classes or max(2, max(vals, default=0) + 1)
    bad = sorted(v for v in vals if v < 0 or v >= k)
    if bad:
        shown = ", ".join(map(str, bad[:8])) + (", ..." if len(bad) > 8 else "")
        hint = "fix the masks or raise --num-classes (at most 256)"
        if len(bad) == 1 and ignore is None:
            hint += f", or say --ignore-index {bad[0]} ({bad[0]} = not scored)"
        given = f" (--num-classes {num_classes})" if num_classes else ""
        raise DataError(f"masks hold values {shown} outside the classes 0..{k - 1}{given}: {hint}")
    if k > 256:
        raise DataError(
            f"mask values up to {k - 1} cannot be class indices (at most 256 classes): "
            "--mask-values binary reads them as foreground >= 128"
        )
    if ignore is not None and k > IGNORE:
        raise DataError(f"--ignore-index needs at most {IGNORE} classes; the masks have {k}")
    if ignore is not None and ignore < k:
        raise DataError(
            f"--ignore-index {ignore} is one of the classes 0..{k - 1}: give a value that is "
            "not a class (e.g. 255)"
        )
    if k == 2:
        return _binary_spec(vals, "nonzero", index=True)
    given = " (--num-classes)" if num_classes else ""
    line = f"mask values {values_text(vals)}: class indices, {k} classes{given}"
    return MaskSpec(k, decisions=(line,))


def _binary_spec(vals: set[int], rule: str, *, index: bool = False, note: str = "") -> MaskSpec:
    fg = sorted(v for v in vals if (v >= 128 if rule == "ge128" else v != 0))
    if not fg:
        meaning = "binary, no foreground in any mask"
    elif rule == "ge128":
        meaning = "binary, >= 128 = foreground"
    elif len(fg) == 1:
        meaning = f"binary, {fg[0]} = foreground"
    else:
        meaning = "binary, non-zero = foreground"
    if index:
        meaning = "class indices, 2 classes: " + meaning
    return MaskSpec(2, rule, decisions=(f"mask values {values_text(vals)}: {meaning}{note}",))


def _auto_spec(vals: set[int], ignore: int | None) -> MaskSpec:
    if len(vals) <= 1 or vals <= {0, 1} or (len(vals) == 2 and 0 in vals):
        return _binary_spec(vals, "nonzero")
    low = {v for v in vals if v < INDEX_BELOW}
    high = {v for v in vals if v >= 128}
    if len(high) == 1 and len(low) >= 2 and 0 in low and low | high == vals:
        (h,) = high
        raise DataError(
            f"mask values {values_text(vals)} are ambiguous: say --ignore-index {h} "
            f"({h} = not scored) or --mask-values binary (>= 128 = foreground)"
        )
    if max(vals) < INDEX_BELOW:
        return _index_spec(vals, None, ignore)
    return _binary_spec(vals, "ge128", note=" (anti-aliased or JPEG masks)")


def _with_ignore(spec: MaskSpec, seen: set[int], ignore: int | None) -> MaskSpec:
    if ignore is None:
        return spec
    if ignore in seen:
        line = (
            f"mask value {ignore}: ignored (--ignore-index {ignore}): left out of the loss and "
            "the scores, never predicted"
        )
    else:
        line = f"--ignore-index {ignore}: no mask holds the value {ignore}, nothing is left out"
    return MaskSpec(
        spec.num_classes,
        spec.binary_rule,
        spec.colour_map,
        ignore_value=ignore,
        decisions=(*spec.decisions, line),
    )
