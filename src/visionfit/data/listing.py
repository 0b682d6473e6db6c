"""Listing the image files under a folder: the one walk every layout's folder scan uses.

Hidden files and folders are passed over; folders `skip_dir` says are not data (the run
directories and cache folder visionfit writes, asked of runs/kind.py by the tasks, which sit above
this layer) are not entered and are returned, so that the layouts can say which they skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from visionfit.data.io import is_image_file

SkipDir = Callable[[Path], bool]

SKIPPED_DIR_NOTE = "a visionfit run or cache folder inside the data: never read as data"


@dataclass
class Listing:
    images: list[Path] = field(default_factory=list)
    ignored: int = 0  # files whose extension is not an image's
    skipped_dirs: list[Path] = field(default_factory=list)  # folders skip_dir refused
    unreadable_dirs: list[tuple[Path, str]] = field(default_factory=list)  # (folder, why)


def list_images(folder: Path, skip_dir: SkipDir | None = None) -> Listing:
    """Image files under `folder` (sorted), recursively; symlinked folders are not followed.

    A broken link, a pipe or a device named like an image is listed too, so that the scan names
    it ("missing", "not a regular file") instead of passing over it in silence."""
    out = Listing()

    def unreadable(e: OSError) -> None:  # os.walk passes over them in silence otherwise
        out.unreadable_dirs.append((Path(e.filename or folder), e.strerror or type(e).__name__))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        here = Path(dirpath)
        kept = []
        for name in dirnames:
            sub = here / name
            if name.startswith("."):
                continue
            if skip_dir is not None and not sub.is_symlink() and skip_dir(sub):
                out.skipped_dirs.append(sub)
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            p = here / name
            if name.startswith("."):
                continue
            if p.is_file():
                if is_image_file(p):
                    out.images.append(p)
                else:
                    out.ignored += 1
            elif is_image_file(p) and not p.is_dir():
                out.images.append(p)
    out.images.sort()
    out.skipped_dirs.sort()
    return out


def skipped_dirs_note(dirs: list[Path], root: Path) -> list[str]:
    """The note a layout adds for the folders it did not read ([] when none)."""
    if not dirs:
        return []
    names = []
    for d in dirs[:5]:
        try:
            names.append(d.relative_to(root).as_posix())
        except ValueError:
            names.append(str(d))
    more = f" and {len(dirs) - 5} more" if len(dirs) > 5 else ""
    return [f"skipped {', '.join(names)}{more}/ ({SKIPPED_DIR_NOTE})"]


class StoredPaths:
    """The path a table stores for a listed image: a symlink's own absolute path (the link is
    the file the user named), else the real path. Each folder is resolved once, not each file:
    for a file that is not a link, realpath(folder/name) is realpath(folder)/name, and resolving
    60,000 files one by one took seconds of `stat` calls at every start."""

    def __init__(self):
        self._folders: dict[Path, str] = {}

    def __call__(self, p: Path) -> str:
        if p.is_symlink():
            return str(p.absolute())
        folder = self._folders.get(p.parent)
        if folder is None:
            folder = self._folders[p.parent] = os.path.realpath(p.parent)
        return os.path.join(folder, p.name)
