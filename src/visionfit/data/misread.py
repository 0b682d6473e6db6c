"""Folder layouts the class-folder reader would misread as classes, refused with what to type.

* DATA/images + DATA/masks (any spelling the segmentation reader takes): images with their
  masks, not two classes (`--task segment`).
* class folders holding no image of their own, only sub-folders of images: a data folder one
  level too high (DATA/foo/{cat,dog}: point DATA at DATA/foo) or splits under names that are not
  split names (DATA/fold1/{cat,dog} + DATA/fold2/{cat,dog}: rename them train/ and val/).
"""

from __future__ import annotations

from pathlib import Path

from visionfit.data.masks import IMAGES_DIR_NAMES, MASKS_DIR_NAMES
from visionfit.errors import DataError


def refuse_segmentation_layout(root: Path, subdirs: list[Path]) -> None:
    """DATA/images + DATA/masks is a segmentation layout, never two classes."""
    images = [d.name for d in subdirs if d.name.lower() in IMAGES_DIR_NAMES]
    masks = [d.name for d in subdirs if d.name.lower() in MASKS_DIR_NAMES]
    if images and masks:
        raise DataError(
            f"{root} holds {images[0]}/ and {masks[0]}/, images with their masks, which "
            "classification would read as two classes: train it with --task segment"
        )


def refuse_nested_classes(root: Path, nested: dict[str, set[str]], n_folders: int) -> None:
    """Class folders holding no image of their own, only sub-folders of images, are a split or
    a data folder one level too high, not classes: the one folder (or all of them, sharing
    sub-folder names) is refused, saying what to point DATA at or how to rename.

    `nested`: such folder -> its sub-folders with images; `n_folders`: the class folders that
    hold images at all (run folders and empty ones do not count)."""
    if not nested or len(nested) != n_folders:
        return
    if n_folders == 1:
        ((name, subs),) = nested.items()
        raise DataError(
            f"{root / name} holds no images of its own, only the folders "
            f"{', '.join(sorted(subs)[:5])}: if these are the classes, point DATA at "
            f"{root / name}"
        )
    shared = set.intersection(*nested.values())
    if shared:
        folders = sorted(nested)
        raise DataError(
            f"the folders {', '.join(folders[:5])} in {root} hold no images of their own, only "
            f"the same sub-folders ({', '.join(sorted(shared)[:5])}), which would be read as "
            f"{len(folders)} classes: if they are splits, rename them train/ and val/ (or test/); "
            f"if one of them holds the classes, point DATA at it (e.g. {root / folders[0]})"
        )
