"""Parquet files and saved `datasets` folders become one samples table (data/tables.py): the
Image feature's struct (bytes or path), plain bytes and path columns, ClassLabel names, the split
from file names or a DatasetDict, rows left out with their reason, read batch by batch."""

from __future__ import annotations

import io
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from visionfit.config import DataConfig
from visionfit.data import tables
from visionfit.data.check import check_dataset, drop_unusable
from visionfit.data.sources import load_samples
from visionfit.data.table_store import STORE_NAME, image_suffix, store_bytes
from visionfit.errors import DataError

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(colour: tuple[int, int, int], size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def hf_meta(names: list[str] | None, image: str = "image", label: str = "label") -> dict:
    """The schema metadata `datasets` writes (Image feature, ClassLabel with names)."""
    lab = (
        {"names": names, "_type": "ClassLabel"} if names else {"dtype": "string", "_type": "Value"}
    )
    features = {image: {"_type": "Image"}, label: lab}
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


def hf_table(images: list, labels: list, names: list[str] | None = ("cat", "dog")) -> pa.Table:
    label_type = pa.int64() if names else pa.string()
    return pa.table(
        {"image": pa.array(images, IMAGE), "label": pa.array(labels, label_type)},
        metadata=hf_meta(list(names) if names else None),
    )


def rows(n: int, start: int = 0) -> tuple[list, list]:
    """n distinct PNGs as Image structs (bytes embedded), labels alternating 0/1."""
    images = [{"bytes": png((10 * (i + start) % 256, 0, 0)), "path": f"x{i}.png"} for i in range(n)]
    return images, [i % 2 for i in range(n)]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


def test_parquet_bytes_classlabel_names_and_split_from_file_names(tmp_path):
    data = tmp_path / "hub" / "data"
    data.mkdir(parents=True)
    names = ["zebra", "ant"]  # the ClassLabel order is kept, not sorted
    pq.write_table(hf_table(*rows(6), names=names), data / "train-00000-of-00001.parquet")
    pq.write_table(hf_table(*rows(4, 50), names=names), data / "validation-00000-of-00001.parquet")
    assert tables.table_format(tmp_path / "hub") == "parquet"
    s = load_samples(DataConfig(path=str(tmp_path / "hub")))
    assert s.layout == "parquet" and s.classes == ["zebra", "ant"]
    assert s.df["split"].value_counts().to_dict() == {"train": 6, "val": 4}
    assert list(s.df["label"][:2]) == ["zebra", "ant"] and list(s.df["target"][:2]) == [0, 1]
    store = tmp_path / "cache" / STORE_NAME
    assert all(p.startswith(str(store)) and p.endswith(".png") for p in s.df["image"])
    assert list(s.df["row"][:2]) == [
        "data/train-00000-of-00001.parquet#0",
        "data/train-00000-of-00001.parquet#1",
    ]
    assert sorted(p.name for p in (tmp_path / "hub").rglob("*")) == sorted(
        ["data", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    )  # nothing written into the dataset
    with Image.open(s.df["image"][0]) as im:
        assert im.size == (8, 8)


def test_store_writes_each_content_once(tmp_path):
    folder = tmp_path / "store"
    a = store_bytes(png((1, 2, 3)), folder, "photo.PNG")
    stamp = os.stat(a).st_mtime_ns, os.stat(a).st_ino
    assert store_bytes(png((1, 2, 3)), folder) == a  # same bytes: same file, not rewritten
    assert (os.stat(a).st_mtime_ns, os.stat(a).st_ino) == stamp
    assert a.endswith(".png") and len(list(folder.rglob("*"))) == 2  # its folder and itself
    assert image_suffix(b"\xff\xd8\xff\xe0rest") == ".jpg"
    assert image_suffix(b"garbage", "x.txt") == ".bin"


def test_store_filled_by_several_writers_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "store"
    blobs = [png((i, 0, 0), size=64) for i in range(4)] * 8
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda b: store_bytes(b, folder), blobs))
    assert len(set(paths)) == 4
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert [p.name for p in files] == sorted(os.path.basename(p) for p in set(paths))  # no temps
    for p, b in zip(paths, blobs, strict=True):
        assert open(p, "rb").read() == b


def test_image_paths_relative_to_the_dataset_folder_or_root(tmp_path):
    ds = tmp_path / "ds"
    (ds / "imgs").mkdir(parents=True)
    for i in range(4):
        (ds / "imgs" / f"{i}.png").write_bytes(png((0, 60 * i, 0)))
    structs = [{"bytes": None, "path": f"imgs/{i}.png"} for i in range(4)]
    pq.write_table(hf_table(structs, [0, 1, 0, 1]), ds / "table.parquet")
    s = load_samples(DataConfig(path=str(ds / "table.parquet")))
    assert list(s.df["image"]) == [str((ds / "imgs" / f"{i}.png").resolve()) for i in range(4)]
    assert not (tmp_path / "cache").exists()  # files by path: nothing stored
    # a plain string path column, strings as labels, resolved against --root
    elsewhere = tmp_path / "t"
    elsewhere.mkdir()
    plain = pa.table({"image": [f"imgs/{i}.png" for i in range(4)], "label": list("abab")})
    pq.write_table(plain, elsewhere / "t.parquet")
    s = load_samples(DataConfig(path=str(elsewhere / "t.parquet"), root=str(ds), format="parquet"))
    assert s.classes == ["a", "b"] and s.df["image"][3] == str((ds / "imgs" / "3.png").resolve())


def test_binary_column_aliases_and_named_columns(tmp_path):
    t = pa.table({"img": [png((i, i, i)) for i in range(4)], "labels": ["x", "y", "x", "y"]})
    pq.write_table(t, tmp_path / "a.parquet")
    s = load_samples(DataConfig(path=str(tmp_path / "a.parquet")))
    assert s.classes == ["x", "y"] and len(s.df) == 4
    t = pa.table({"pic": [png((i, i, i)) for i in range(4)], "kind": [0, 1, 0, 1]})
    pq.write_table(t, tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"no image column 'image'; its columns: pic, kind"):
        load_samples(DataConfig(path=str(tmp_path / "b.parquet")))
    with pytest.raises(DataError, match=r"no label column 'label'; its columns: pic, kind"):
        load_samples(DataConfig(path=str(tmp_path / "b.parquet"), image_col="pic"))
    s = load_samples(
        DataConfig(path=str(tmp_path / "b.parquet"), image_col="pic", label_col="kind")
    )
    assert s.classes == ["0", "1"]


def test_bad_rows_are_left_out_with_their_reason(tmp_path):
    images, labels = rows(6)
    images += [None, {"bytes": None, "path": None}, {"bytes": b"not an image", "path": "z.png"}]
    images += [{"bytes": None, "path": "gone.png"}, images[0] | {"path": "y.png"}]
    labels += [0, 1, 0, 1, None]
    images, labels = images + [rows(1, 99)[0][0]], labels + [-1]
    pq.write_table(hf_table(images, labels), tmp_path / "t.parquet")
    s = load_samples(DataConfig(path=str(tmp_path / "t.parquet")))
    reasons = [(img, why) for img, _, why, _ in s.left_out]
    assert reasons == [
        ("t.parquet#6", "no image"),
        ("t.parquet#7", "no image"),
        (str(tmp_path / "gone.png"), "missing"),
        ("t.parquet#10", "no label"),
        ("t.parquet#11", "no label"),
    ]
    assert "row 11 of t.parquet: the label is -1" in s.left_out[-1][3]
    usable = drop_unusable(s, DataConfig(path=str(tmp_path / "t.parquet")))
    skipped = usable.skipped.set_index("image")["reason"].to_dict()
    assert len(usable.samples.df) == 6 and len(skipped) == 6
    assert list(skipped.values()).count("no image") == 2
    undecodable = [
        img for img, why in skipped.items() if why not in ("no image", "missing", "no label")
    ]
    assert len(undecodable) == 1 and undecodable[0].endswith(".png")  # the scan's verdict
    report = check_dataset(DataConfig(path=str(tmp_path / "t.parquet")), use_cache=False)
    assert report.counts["table_rows_left_out"] == 5 and report.counts["bad"] == 1
    assert report.counts["listed"] == 12 and report.bad_by_reason["no label"] == 2
    assert any("5 table rows left out" in w for w in report.warnings)


def test_reads_batch_by_batch(tmp_path, monkeypatch):
    images, labels = rows(10)
    pq.write_table(hf_table(images, labels), tmp_path / "t.parquet", row_group_size=10)
    monkeypatch.setattr(tables, "BATCH_ROWS", 3)
    sizes = []
    real = pq.ParquetFile.iter_batches

    def spy(self, *a, **kw):
        for batch in real(self, *a, **kw):
            sizes.append(batch.num_rows)
            yield batch

    def whole(*a, **kw):
        raise AssertionError("the table was read whole")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    monkeypatch.setattr(pq.ParquetFile, "read", whole)
    monkeypatch.setattr(pq, "read_table", whole)
    s = load_samples(DataConfig(path=str(tmp_path / "t.parquet")))
    assert len(s.df) == 10 and sizes == [3, 3, 3, 1]


def _save_dataset(folder, batches: list[pa.Table], names) -> None:
    """A Dataset folder as save_to_disk writes it: an Arrow stream file, state, info."""
    folder.mkdir(parents=True)
    schema = batches[0].schema
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, schema) as writer:
            for b in batches:
                writer.write_table(b)
    state = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": None}
    (folder / "state.json").write_text(json.dumps(state))
    features = {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
    (folder / "dataset_info.json").write_text(json.dumps({"features": features}))


def test_dataset_dict_splits_and_class_names_from_dataset_info(tmp_path):
    ds = tmp_path / "dd"
    names = ["no", "yes"]
    # two record batches in train; the Arrow files' own metadata says cat/dog, and
    # dataset_info.json (what save_to_disk writes beside them) wins
    _save_dataset(ds / "train", [hf_table(*rows(4)), hf_table(*rows(4, 9))], names)
    _save_dataset(ds / "validation", [hf_table(*rows(3, 30))], names)
    (ds / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation"]}))
    assert tables.table_format(ds) == "hf" and tables.table_format(ds / "train") == "hf"
    s = load_samples(DataConfig(path=str(ds)))
    assert s.layout == "hf" and s.classes == ["no", "yes"]
    assert s.df["split"].value_counts().to_dict() == {"train": 8, "val": 3}
    assert s.df["row"].iloc[-1] == "validation/data-00000-of-00001.arrow#2"
    one = load_samples(DataConfig(path=str(ds / "train")))  # one Dataset: no split
    assert set(one.df["split"]) == {""} and len(one.df) == 8


def test_detection_leaves_other_layouts_alone(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    assert tables.table_format(tmp_path) is None
    assert tables.table_format(tmp_path / "a" / "x.png") is None
    (tmp_path / "train").mkdir()
    pq.write_table(hf_table(*rows(2)), tmp_path / "train" / "0000.parquet")
    assert tables.table_format(tmp_path) == "parquet"
    assert tables._split_of(tmp_path / "train" / "0000.parquet") == "train"
    with pytest.raises(DataError, match="reads DATA"):
        load_samples(DataConfig(csv=str(tmp_path / "x.csv"), format="parquet"))
    with pytest.raises(DataError, match="not a parquet table"):
        load_samples(DataConfig(path=str(tmp_path), group_col="g"))


def test_table_images_one_path_per_row_in_order(tmp_path):
    images, labels = rows(3)
    images[1] = None
    pq.write_table(hf_table(images, [None, None, None]), tmp_path / "t.parquet")
    out = tables.table_images(tmp_path / "t.parquet")
    assert len(out) == 3 and out[1] == "t.parquet#1" and out[0].endswith(".png")
    assert pd.Series(out).is_unique
