"""Image bytes kept inside a table (Parquet, a saved `datasets` dataset), written once as files.

Everything after the samples table (the cached scan, the decode-once cache, reports' thumbnails,
skipped.csv, near-duplicates) works on file paths. A row that embeds its image's bytes therefore
gets a file in a content-addressed store under the visionfit cache folder (``$VISIONFIT_CACHE``,
else ``~/.cache/visionfit``; never inside the dataset): ``table-images/<h[:2]>/<h><ext>``, where
``h`` is the SHA-256 of the bytes. A file already there is not written again (its name is its
content); a new one is written atomically (temporary file + rename), so two runs filling the
store at once both end with the same whole file. The store may be deleted at any time: the next
run writes it again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from visionfit.data.io import IMAGE_EXTENSIONS
from visionfit.data.scan_cache import default_cache_dir
from visionfit.errors import DataError
from visionfit.fileio import atomic_write_bytes

STORE_NAME = "table-images"

# (offset, signature, extension): the file's own magic bytes name its type when its name does not
_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", ".png"),
    (0, b"\xff\xd8\xff", ".jpg"),
    (0, b"GIF8", ".gif"),
    (0, b"BM", ".bmp"),
    (0, b"II*\x00", ".tif"),
    (0, b"MM\x00*", ".tif"),
    (8, b"WEBP", ".webp"),
    (128, b"DICM", ".dcm"),
)


def store_dir(cache_dir: str | Path | None = None) -> Path:
    """The store's folder: `cache_dir` (default: the visionfit cache folder) / table-images."""
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / STORE_NAME


def image_suffix(data: bytes, name: str | None = None) -> str:
    """The extension a stored file gets: the original name's when it is an image's, else the
    one the bytes' signature says, else .bin (the scan then reports what it finds)."""
    if name:
        suffix = Path(name).suffix.lower()
        if suffix in IMAGE_EXTENSIONS or suffix == ".dcm":
            return suffix
    for offset, magic, ext in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return ext
    return ".bin"


def store_bytes(data: bytes, folder: Path, name: str | None = None) -> str:
    """The stored file holding `data` (written when not there yet); its absolute path."""
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest[:2] / f"{digest}{image_suffix(data, name)}"
    try:
        if path.is_file() and path.stat().st_size == len(data):
            return str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        raise DataError(
            f"cannot write the table's images to {folder} ({e.strerror or e}): set "
            "VISIONFIT_CACHE to a writable folder"
        ) from None
    return str(path)
