"""Classification data kept as tables: Parquet files, and `datasets` datasets written by
`save_to_disk`, read with pyarrow one record batch at a time (never loaded whole).

Detection (`--format auto`, `table_format`): DATA is a .parquet file, or a folder holding .parquet
files (in it, in its data/ folder as the Hub lays them out, or in its train/val/test folders), or
a folder with dataset_info.json or state.json and .arrow files (a Dataset), or with
dataset_dict.json (a DatasetDict). `--format parquet` / `--format hf` name them.

Columns: the image column is `--image-col` (default image, else img, else the one column the
features call an Image); the label column `--label-col` (default label, else labels, else the one
ClassLabel column). Images are stored as `datasets`' Image feature stores them (a struct of bytes
and path; bytes may be null when the path names a file), as plain bytes, or as a path string; a
relative path is resolved against `--root`, else the dataset folder. Embedded bytes are written
once to a content-addressed store outside the dataset (data/table_store.py), so each row becomes
an ordinary image path. Labels are ClassLabel integers (their names from the features: the
`huggingface` key of the schema metadata, or dataset_info.json) or strings.

The split of a row is its DatasetDict split, or the name its Parquet file starts with
(train-00000-of-00001.parquet, validation-..., test-...) or the folder it sits in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from visionfit.data.labels import sorted_classes
from visionfit.data.table_store import store_bytes, store_dir
from visionfit.errors import DataError

TABLE_FORMATS = ("parquet", "hf")
BATCH_ROWS = 256  # rows per record batch: at most this many images' bytes in memory at once
IMAGE_NAMES = ("image", "img")
LABEL_NAMES = ("label", "labels")
_SPLIT_WORDS = ("train", "training", "val", "valid", "validation", "test", "testing")


@dataclass
class TableRows:
    """What a table gave: one entry per usable row, and the rows left out (and why)."""

    images: list[str] = field(default_factory=list)  # absolute file paths
    labels: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)  # as the data names them ("" when none)
    rows: list[str] = field(default_factory=list)  # "file#row": where each row came from
    classes: list[str] | None = None  # the ClassLabel names, in their order, when there are any
    left_out: list[tuple[str, str, str, str]] = field(default_factory=list)  # image,label,why,..
    columns: tuple[str, str] = ("", "")


@dataclass
class _Part:
    """One file of the table: where it is, its split, its schema and its batches."""

    name: str  # as messages show it (relative to DATA)
    split: str
    schema: object  # pyarrow.Schema
    batches: Callable[[list[str]], Iterator]  # columns -> record batches
    features: dict | None


def table_format(path: str | Path | None) -> str | None:
    """ "parquet" or "hf" when DATA looks like one (the module's detection rule), else None."""
    if path is None:
        return None
    p = Path(path)
    if p.is_file():
        return "parquet" if p.suffix.lower() == ".parquet" else None
    if not p.is_dir():
        return None
    if (p / "dataset_dict.json").is_file():
        return "hf"
    if ((p / "dataset_info.json").is_file() or (p / "state.json").is_file()) and any(
        p.glob("*.arrow")
    ):
        return "hf"
    return "parquet" if _parquet_files(p) else None


def _parquet_files(folder: Path) -> list[Path]:
    for base in (folder, folder / "data"):
        files = sorted(base.glob("*.parquet"))
        if files:
            return files
        splits = [
            d for d in sorted(base.glob("*")) if d.is_dir() and d.name.lower() in _SPLIT_WORDS
        ]
        files = sorted(f for d in splits for f in d.glob("*.parquet"))
        if files:
            return files
    return []


def _split_of(file: Path) -> str:
    """The split a Parquet file's name (train-00000-of-00001) or folder (train/) gives."""
    word = re.split(r"[-_.]", file.name.lower(), maxsplit=1)[0]
    if word in _SPLIT_WORDS:
        return word
    return file.parent.name.lower() if file.parent.name.lower() in _SPLIT_WORDS else ""


def _features(metadata: dict | None) -> dict | None:
    """The `datasets` features a schema's metadata carries (its huggingface key)."""
    raw = (metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        return json.loads(raw).get("info", {}).get("features")
    except (ValueError, AttributeError):
        return None


def _parquet_parts(path: Path) -> list[_Part]:
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else _parquet_files(path)
    if not files:
        raise DataError(f"no .parquet files in {path} (nor in {path / 'data'})")
    parts = []
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise DataError(f"cannot read {f} as Parquet: {e}") from None
        schema = pf.schema_arrow
        parts.append(
            _Part(
                name=str(f.relative_to(path)) if path.is_dir() else f.name,
                split=_split_of(f),
                schema=schema,
                batches=lambda cols, pf=pf: pf.iter_batches(batch_size=BATCH_ROWS, columns=cols),
                features=_features(schema.metadata),
            )
        )
    return parts


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from None


def _hf_parts(path: Path) -> list[_Part]:
    """A DatasetDict's splits (dataset_dict.json), or one Dataset folder."""
    if not path.is_dir():
        raise DataError(f"--format hf needs a folder written by save_to_disk, got {path}")
    if (path / "dataset_dict.json").is_file():
        splits = _read_json(path / "dataset_dict.json").get("splits") or []
        return [p for s in splits for p in _dataset_parts(path / s, path, str(s))]
    return _dataset_parts(path, path, "")


def _dataset_parts(folder: Path, top: Path, split: str) -> list[_Part]:
    """The Arrow stream files of one saved Dataset, in state.json's order."""
    import pyarrow as pa

    state = _read_json(folder / "state.json") if (folder / "state.json").is_file() else {}
    names = [d["filename"] for d in state.get("_data_files", []) if "filename" in d]
    files = [folder / n for n in names] or sorted(folder.glob("data-*.arrow"))
    if not files:
        raise DataError(f"no .arrow files in {folder} (a folder written by save_to_disk)")
    info = folder / "dataset_info.json"
    features = _read_json(info).get("features") if info.is_file() else None
    parts = []
    for f in files:

        def batches(cols, f=f):
            with pa.memory_map(str(f)) as source:
                yield from pa.ipc.open_stream(source)

        try:
            with pa.memory_map(str(f)) as source:
                schema = pa.ipc.open_stream(source).schema
        except (OSError, pa.ArrowInvalid) as e:
            raise DataError(f"cannot read {f} as an Arrow stream file: {e}") from None
        parts.append(
            _Part(
                name=str(f.relative_to(top)),
                split=split,
                schema=schema,
                batches=batches,
                features=features or _features(schema.metadata),
            )
        )
    return parts


def _column(part: _Part, asked: str, default: str, aliases: tuple, kind: str, flag: str) -> str:
    """The column `asked` names; for the default name, an alias or the one column whose
    feature is `kind`. A table without one is an error naming the columns it has."""
    names = list(part.schema.names)
    if asked in names:
        return asked
    if asked == default:
        for alias in aliases:
            if alias in names:
                return alias
        typed = [k for k, v in (part.features or {}).items() if _type(v) == kind]
        if len(typed) == 1 and typed[0] in names:
            return typed[0]
    what = "image" if kind == "Image" else "label"
    raise DataError(
        f"{part.name} has no {what} column {asked!r}; its columns: {', '.join(names)} "
        f"(name the {what} column with {flag})"
    )


def _type(feature) -> str:
    return feature.get("_type", "") if isinstance(feature, dict) else ""


def read_table(
    path: str | Path,
    fmt: str,
    *,
    image_col: str,
    label_col: str,
    defaults: tuple[str, str] = ("image", "label"),
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> TableRows:
    """Every row of the table at `path` (`fmt`: parquet or hf), streamed batch by batch."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data not found: {path}")
    parts = _parquet_parts(path) if fmt == "parquet" else _hf_parts(path)
    if not parts:
        raise DataError(f"{path} lists no split to read (dataset_dict.json)")
    base = Path(root) if root else (path if path.is_dir() else path.parent)
    out = TableRows()
    store = store_dir(cache_dir)
    for part in parts:
        image = _column(part, image_col, defaults[0], IMAGE_NAMES, "Image", "--image-col")
        label = _column(part, label_col, defaults[1], LABEL_NAMES, "ClassLabel", "--label-col")
        out.columns = (image, label)
        names = (part.features or {}).get(label, {}).get("names") if part.features else None
        if names and out.classes is None:
            out.classes = [str(n) for n in names]
        _read_part(part, (image, label), names, base, store, out)
    return out


def table_images(
    path: str | Path,
    *,
    image_col: str = "image",
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> list[str]:
    """One image path per row of the table at `path`, in the table's order (predict's inputs;
    no label needed). A row without an image gives "file#row", which predict reports as
    unreadable, so its output keeps one row per table row."""
    path = Path(path)
    fmt = table_format(path)
    if fmt is None:
        raise DataError(f"{path} is no Parquet file or saved `datasets` folder")
    base = Path(root) if root else (path if path.is_dir() else path.parent)
    store = store_dir(cache_dir)
    out = []
    for part in _parquet_parts(path) if fmt == "parquet" else _hf_parts(path):
        image = _column(part, image_col, "image", IMAGE_NAMES, "Image", "--image-col")
        i = 0
        for batch in part.batches([image]):
            for value in batch.column(image).to_pylist():
                found, why = _image(value, base, store)
                out.append(found or f"{part.name}#{i}")
                i += 1
    return out


def table_frame(t: TableRows, split_names: dict[str, str]) -> tuple[pd.DataFrame, list, list]:
    """(image, label, split, row, target) frame, its classes (the ClassLabel names' order
    where there are names, else sorted) and notes. `split_names` maps the data's split names
    to train / val / test; as for folders, the splits count only when train and val or test
    are both there."""
    splits = [split_names.get(s, "") for s in t.splits]
    notes = []
    unknown = sorted({s for s in t.splits if s and s not in split_names})
    if unknown:
        notes.append(f"splits {unknown} are not train / val / test: their rows count as unsplit")
    if not ("train" in splits and {"val", "test"} & set(splits)):
        splits = [""] * len(splits)
    df = pd.DataFrame({"image": t.images, "label": t.labels, "split": splits, "row": t.rows})
    seen = set(df["label"])
    if t.classes:
        classes = [c for c in t.classes if c in seen]
        classes += sorted_classes(pd.Series(sorted(seen - set(classes))))
    else:
        classes = sorted_classes(df["label"])
    df["target"] = df["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    return df, classes, notes


def _read_part(part: _Part, cols, names, base: Path, store: Path, out: TableRows) -> None:
    i = 0
    for batch in part.batches(list(cols)):
        images = batch.column(cols[0]).to_pylist()  # Parquet keeps the file's column order
        labels = batch.column(cols[1]).to_pylist()
        for value, raw_label in zip(images, labels, strict=True):
            where = f"{part.name}#{i}"
            i += 1
            label, why = _label(raw_label, names)
            if why:
                out.left_out.append((where, "", "no label", f"row {i - 1} of {part.name}: {why}"))
                continue
            image, why = _image(value, base, store)
            if why:
                out.left_out.append(
                    (image or where, label, why[0], f"row {i - 1} of {part.name}: {why[1]}")
                )
                continue
            out.images.append(image)
            out.labels.append(label)
            out.splits.append(part.split)
            out.rows.append(where)


def _label(value, names) -> tuple[str, str]:
    """(class name, "") or ("", why the row has no usable label)."""
    if value is None:
        return "", "the label is null"
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(value).strip()
        return (text, "") if text else ("", "the label is empty")
    if isinstance(value, float):
        if not value.is_integer():
            return str(value), ""
        value = int(value)
    if names:
        if value == -1:
            return "", "the label is -1 (no label)"
        if not 0 <= value < len(names):
            return "", f"label {value} is not one of the {len(names)} ClassLabel names"
        return str(names[value]), ""
    return str(value), ""


def _image(value, base: Path, store: Path) -> tuple[str, tuple[str, str] | None]:
    """(absolute path, None) or (path or "", (reason, detail)) for a row left out."""
    name = None
    if isinstance(value, dict):  # datasets' Image feature: {"bytes": ..., "path": ...}
        data, name = value.get("bytes"), value.get("path")
        if data:
            return store_bytes(bytes(data), store, name), None
        value = name
    if isinstance(value, bytes | bytearray):
        if not value:
            return "", ("no image", "the image bytes are empty")
        return store_bytes(bytes(value), store), None
    if not value:
        return "", ("no image", "the image is null")
    p = Path(str(value))
    p = p if p.is_absolute() else base / p
    if not p.exists():
        return str(p), ("missing", f"{value} does not exist")
    return str(p.absolute() if p.is_symlink() else p.resolve()), None
