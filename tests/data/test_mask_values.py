"""What mask values mean: value sets -> the decision and its sentence (data/mask_values.py), the
ignore value in the class maps, and augmentation borders filled with it."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from visionfit.data.augment import fill_masks
from visionfit.data.mask_values import detect_mask_spec, values_text
from visionfit.data.masks import IGNORE, MaskSpec, mask_to_classes
from visionfit.errors import DataError

JPEG_LIKE = set(range(0, 9)) | set(range(246, 256))


@pytest.mark.parametrize(
    ("values", "kw", "k", "rule", "sentence"),
    [
        ({0, 255}, {}, 2, "nonzero", "mask values {0, 255}: binary, 255 = foreground"),
        ({0, 1}, {}, 2, "nonzero", "mask values {0, 1}: binary, 1 = foreground"),
        ({0, 1, 2, 3}, {}, 4, "nonzero", "mask values {0, 1, 2, 3}: class indices, 4 classes"),
        (
            JPEG_LIKE,
            {},
            2,
            "ge128",
            "mask values {0, 1, 2, 3, 4, 5, ..., 254, 255} (19 values): binary, >= 128 = "
            "foreground (anti-aliased or JPEG masks)",
        ),
        (
            {0, 1, 255},
            {"mask_values": "binary"},
            2,
            "ge128",
            "mask values {0, 1, 255}: binary, >= 128 = foreground",
        ),
        (
            {0, 1, 2},
            {"num_classes": 5},
            5,
            "nonzero",
            "mask values {0, 1, 2}: class indices, 5 classes (--num-classes)",
        ),
        ({0}, {}, 2, "nonzero", "mask values {0}: binary, no foreground in any mask"),
    ],
)
def test_value_sets_give_the_decision_and_its_sentence(values, kw, k, rule, sentence):
    spec = detect_mask_spec([values], **kw)
    assert (spec.num_classes, spec.binary_rule, spec.ignore_value) == (k, rule, None)
    assert spec.decisions == (sentence,)


@pytest.mark.parametrize("values", [{0, 1, 255}, {0, 1, 2, 3, 255}, {0, 2, 254}])
def test_ambiguous_values_are_refused_with_the_options(values):
    high = max(values)
    with pytest.raises(DataError) as e:
        detect_mask_spec([values])
    assert str(e.value) == (
        f"mask values {values_text(values)} are ambiguous: say --ignore-index {high} "
        f"({high} = not scored) or --mask-values binary (>= 128 = foreground)"
    )


def test_ignore_index_decides_the_rest_and_says_so():
    spec = detect_mask_spec([{0, 1, 255}, {0}], ignore_index=255)
    assert (spec.num_classes, spec.ignore_value, spec.class_ignore) == (2, 255, IGNORE)
    assert spec.decisions == (
        "mask values {0, 1}: binary, 1 = foreground",
        "mask value 255: ignored (--ignore-index 255): left out of the loss and the scores, "
        "never predicted",
    )
    spec = detect_mask_spec([{0, 1, 2, 3, 255}], ignore_index=255)
    assert spec.num_classes == 4 and spec.ignore_value == 255
    assert spec.unexpected_values([0, 3, 255]) == [] and spec.unexpected_values([4]) == [4]
    absent = detect_mask_spec([{0, 255}], ignore_index=7)
    assert absent.decisions[-1] == (
        "--ignore-index 7: no mask holds the value 7, nothing is left out"
    )
    assert detect_mask_spec([{0, 1, 2, 255}], num_classes=3, ignore_index=255).num_classes == 3


def test_explicit_modes_and_their_conflicts():
    assert detect_mask_spec([{0, 1}], mask_values="index").decisions == (
        "mask values {0, 1}: class indices, 2 classes: binary, 1 = foreground",
    )
    with pytest.raises(DataError, match="outside the classes 0..2.*--ignore-index 9"):
        detect_mask_spec([{0, 1, 2, 9}], num_classes=3)
    with pytest.raises(DataError, match="cannot be class indices"):
        detect_mask_spec([{0, 300}], mask_values="index")
    with pytest.raises(DataError, match="--mask-values binary reads two classes"):
        detect_mask_spec([{0, 1, 2}], num_classes=3, mask_values="binary")
    with pytest.raises(DataError, match="--ignore-index 1 is one of the classes"):
        detect_mask_spec([{0, 1, 2}], ignore_index=1, mask_values="index")
    with pytest.raises(DataError, match="colour masks go through --colour-map"):
        detect_mask_spec([], colour_map={"#000000": 0, "#ff0000": 1}, ignore_index=255)


def test_ignored_pixels_become_the_ignore_class():
    raw = np.array([[0, 1, 255], [255, 0, 1]], np.uint8)
    spec = MaskSpec(2, ignore_value=255)
    assert mask_to_classes(raw, spec).tolist() == [[0, 1, IGNORE], [IGNORE, 0, 1]]
    idx = np.array([[0, 3, 200]], np.uint8)
    assert mask_to_classes(idx, MaskSpec(4, ignore_value=200)).tolist() == [[0, 3, IGNORE]]
    # the bundle keeps the ignore value (model.json's mask_spec)
    assert MaskSpec.from_json(spec.to_json()) == spec
    assert MaskSpec.from_json({"num_classes": 2}).ignore_value is None


def test_augmentation_borders_of_masks_get_the_ignore_value():
    pipe = A.Compose(
        [A.Affine(rotate=(40, 40), p=1.0), A.CoarseDropout(p=1.0), A.HorizontalFlip(p=1.0)]
    )
    fill_masks(pipe, IGNORE)
    assert pipe.transforms[0].fill_mask == IGNORE
    assert pipe.transforms[1].fill_mask is None  # dropout leaves masks alone
    out = pipe(image=np.zeros((32, 32, 3), np.uint8), mask=np.ones((32, 32), np.uint8))["mask"]
    assert set(np.unique(out)) == {1, IGNORE}  # rotated corners: not background, not scored
