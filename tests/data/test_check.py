"""`visionfit check` and the scan before training: every bad file named with its reason, odd but
valid files kept, duplicates and leakage found, the scan cached outside the dataset."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import visionfit
from visionfit.config import DataConfig, RunConfig
from visionfit.data.check import check_dataset, drop_unusable, scan_files
from visionfit.data.scan_cache import ScanCache
from visionfit.data.sources import load_samples
from visionfit.data.synthetic import (
    BROKEN_REASONS,
    draw_shape,
    make_shapes_dataset,
    write_broken_files,
)
from visionfit.errors import DataError, VisionfitError


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """The scan cache goes to a per-test folder, never to the user's ~/.cache."""
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


def _rel(path, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def _odd_but_valid(folder: Path, rng: np.random.Generator) -> dict[str, str]:
    """Valid images in unusual modes and one EXIF-rotated JPEG; {file name: stored mode}."""
    folder.mkdir(parents=True, exist_ok=True)
    img = draw_shape("circle", 20, rng)
    written = {}
    for mode, ext in (("L", ".png"), ("P", ".png"), ("LA", ".png"), ("RGBA", ".png")):
        img.convert(mode).save(folder / f"odd_{mode}{ext}")
        written[f"odd_{mode}{ext}"] = mode
    img.convert("CMYK").save(folder / "odd_CMYK.jpg")
    written["odd_CMYK.jpg"] = "CMYK"
    deep = (np.asarray(img.convert("L"), dtype=np.uint16) * 200).astype(np.uint16)
    Image.fromarray(deep).save(folder / "odd_I16.png")
    written["odd_I16.png"] = "I;16"
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(folder / "odd_rotated.jpg", exif=exif)
    written["odd_rotated.jpg"] = "RGB"
    return written


@pytest.fixture(scope="module")
def broken_dataset(tmp_path_factory):
    """1,000 files in 3 class folders: 100 unusable (six kinds), 7 odd-but-valid, the rest fine."""
    root = tmp_path_factory.mktemp("broken") / "data"
    make_shapes_dataset(root, n_per_class=298, size=16, seed=3)  # 894 images
    rng = np.random.default_rng(0)
    odd = _odd_but_valid(root / "circle", rng)  # 901
    bad: dict[Path, str] = {}
    for k, cls in enumerate(("circle", "square", "triangle")):
        bad |= write_broken_files(root / cls, 34 if k < 2 else 32, seed=k, size=16)
    # Rename so that names are unique across classes, and count.
    assert len(bad) == 100
    # One exact duplicate: a copy of a circle under another name.
    (root / "square" / "copy_of_circle.png").write_bytes(
        (root / "circle" / "circle_0000.png").read_bytes()
    )  # 1,002 files with the copy ... drop one good file to stay at 1,000
    (root / "triangle" / "triangle_0297.png").unlink()
    (root / "triangle" / "triangle_0296.png").unlink()
    (root / "notes.txt").write_text("not part of the data")
    (root / "circle" / "readme.md").write_text("ignored by extension")
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".md" and p.parent != root]
    assert len(files) == 1000
    return root, bad, odd


def test_check_names_every_bad_file_with_its_reason(broken_dataset, tmp_path, run_cli):
    root, bad, odd = broken_dataset
    report_path = tmp_path / "report.json"
    code, out, err = run_cli(["check", root, "--out", report_path, "--threads", "2"])
    assert code == 0, err
    report = json.loads(report_path.read_text())
    found = {_rel(f["image"], root): f["reason"] for f in report["bad_files"]}
    expected = {_rel(p, root): BROKEN_REASONS[kind] for p, kind in bad.items()}
    assert found == expected  # 100 of 100, each with the right reason
    assert report["counts"]["bad"] == 100 and report["counts"]["usable"] == 900
    assert report["bad_by_reason"] == dict(Counter(expected.values()))
    assert len(set(bad.values())) == 6  # zero-byte, truncated PNG/JPEG, text, random, PPM
    assert report["counts"]["ignored_by_extension"] == 1  # readme.md
    # The console table names every one of them too (paths may be folded over lines).
    flat = "".join(out.split())
    assert all(name in flat for name in expected), [n for n in expected if n not in flat][:5]
    assert "data usable" in out and "Traceback" not in out + err
    # Odd modes are usable; modes and the EXIF rotation are counted.
    assert not {f"circle/{name}" for name in odd} & set(found)
    for mode in ("L", "P", "LA", "RGBA", "CMYK", "I;16"):
        assert report["modes"][mode] >= 1, report["modes"]
    assert report["counts"]["exif_rotated"] == 1 and report["exif_rotations"] == {"6": 1}
    assert report["sizes"]["16x16"] >= 890 and report["sizes"]["20x20"] == 7
    assert report["classes"] == {"circle": 305, "square": 299, "triangle": 296}
    assert report["imbalance_ratio"] == pytest.approx(305 / 296, abs=1e-3)
    dup = [d for d in report["duplicates"] if len(d["images"]) == 2]
    assert len(dup) == 1 and dup[0]["labels"] == ["circle", "square"]
    assert report["counts"]["duplicate_label_conflicts"] == 1
    assert report["usable"] is True and report["problems"] == []


def test_train_skips_bad_files_and_lists_them(broken_dataset, tmp_path):
    root, bad, _ = broken_dataset
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path / "runs"),
            "data": {"path": str(root), "workers": 0},
            "augment": {"preset": "none", "img_size": 16},
            "train": {"epochs": 1, "batch_size": 64, "patience": None},
        }
    )
    result = visionfit.fit(cfg, progress=False)
    assert result.skipped_files == 100
    assert result.n_train + result.n_val == 900
    skipped = pd.read_csv(result.run_dir / "skipped.csv")
    assert list(skipped.columns) == ["image", "label", "reason", "detail"]
    assert {_rel(p, root): r for p, r in zip(skipped["image"], skipped["reason"], strict=True)} == {
        _rel(p, root): BROKEN_REASONS[k] for p, k in bad.items()
    }
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["skipped_files"] == 100
    splits = pd.read_csv(result.run_dir / "splits.csv")
    assert not set(splits["image"]) & set(skipped["image"])


def test_scan_is_cached_outside_the_dataset(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", n_per_class=10, size=16, classes=("a", "b"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    paths = sorted(str(p) for p in root.rglob("*.png"))
    first = scan_files(paths, max_pixels=10**6)
    assert (first.decoded, first.cached) == (20, 0)
    assert (tmp_path / "cache" / "scan-cache.sqlite").is_file()
    second = scan_files(paths, max_pixels=10**6)
    assert (second.decoded, second.cached) == (0, 20)
    assert [f.sha1 for f in second.files] == [f.sha1 for f in first.files]
    # A changed file is decoded again, even with the same size and its old modification time;
    # another pixel cap is another verdict.
    st = os.stat(paths[1])
    data = Path(paths[1]).read_bytes()
    Path(paths[1]).write_bytes(data[: len(data) // 2] + b"\0" * (len(data) - len(data) // 2))
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns))
    Path(paths[0]).write_bytes(b"")
    third = scan_files(paths, max_pixels=10**6)
    assert third.decoded == 2 and third.files[0].reason == "zero bytes"
    assert not third.files[1].ok
    assert scan_files(paths, max_pixels=100).decoded == 20
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written


def test_scan_works_when_the_cache_cannot_be_written(tmp_path, monkeypatch):
    root = make_shapes_dataset(tmp_path / "data", n_per_class=3, size=16, classes=("a", "b"))
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("VISIONFIT_CACHE", str(blocker / "sub"))
    with pytest.warns(RuntimeWarning, match="scan cache unavailable"):
        res = scan_files(sorted(str(p) for p in root.rglob("*.png")), max_pixels=10**6)
    assert res.decoded == 6 and all(f.ok for f in res.files) and res.cache_note
    # A damaged cache file is replaced, not fatal.
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "c2"))
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "scan-cache.sqlite").write_bytes(b"garbage" * 100)
    cache = ScanCache.open({"max_pixels": 1})
    assert cache.enabled
    cache.close()


def test_leakage_across_given_split_and_broken_link(tmp_path, run_cli):
    root = tmp_path / "data"
    make_shapes_dataset(root / "train", n_per_class=6, size=16, classes=("a", "b"))
    make_shapes_dataset(root / "val", n_per_class=2, size=16, classes=("a", "b"), seed=5)
    leaked = root / "val" / "a" / "leaked.png"
    leaked.write_bytes((root / "train" / "a" / "a_0003.png").read_bytes())
    (root / "train" / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    report = check_dataset(DataConfig(path=str(root)))
    assert report.layout == "split-folders"
    assert report.counts["leakage_groups"] == 1
    (group,) = report.leakage
    assert group["val"] == [str(leaked)] and group["train"][0].endswith("a_0003.png")
    assert report.class_counts_by_split["val"] == {"a": 3, "b": 2}
    (bad,) = report.bad_files
    assert bad["reason"] == "missing" and bad["detail"] == "broken symbolic link"
    code, out, err = run_cli(["check", root])
    assert code == 0 and "identical files in train and val" in out and "gone.png" in out


def test_check_exit_code_when_a_class_has_no_usable_image(tmp_path, run_cli):
    root = make_shapes_dataset(tmp_path / "data", n_per_class=5, size=16, classes=("a", "b"))
    for p in (root / "b").iterdir():
        p.write_bytes(b"")
    code, out, err = run_cli(["check", root])
    assert code == 1
    assert "data not usable: class(es) without usable images: b" in " ".join(err.split())
    with pytest.raises(DataError, match="class.* left without usable images: b"):
        drop_unusable(load_samples(DataConfig(path=str(root))), DataConfig(path=str(root)))
    # An existing --out is never overwritten.
    out_file = tmp_path / "r.json"
    out_file.write_text("{}")
    code, _, err = run_cli(["check", root, "--out", out_file])
    assert code == 2 and "exists" in err and out_file.read_text() == "{}"


def test_csv_missing_files_and_empty_labels(tmp_path, run_cli):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=8, size=16, classes=("a", "b"))
    rows = [{"image": f"{c}/{c}_{i:04d}.png", "label": c} for c in ("a", "b") for i in range(8)]
    rows += [
        {"image": "a/gone.png", "label": "a"},
        {"image": "b/b_0001.png", "label": ""},
    ]
    csv = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    code, out, err = run_cli(["check", "--csv", csv, "--root", root, "--out", tmp_path / "r.json"])
    # check and train agree: a row train refuses (empty label) makes check exit 1, naming it
    assert code == 1, err
    assert "1 CSV row with an empty label (lines 19)" in " ".join(err.split())
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["missing_rows"] == [{"line": 18, "image": str(root / "a/gone.png"), "label": "a"}]
    assert report["empty_label_rows"] == [{"line": 19, "image": str(root / "b/b_0001.png")}]
    assert "gone.png" in "".join(out.split())
    # train: an empty label is an error (the row is ambiguous) ...
    cfg = {"data": {"csv": str(csv), "root": str(root), "workers": 0}}
    with pytest.raises(DataError, match="empty 'label'"):
        visionfit.fit(RunConfig.from_dict(cfg), progress=False)
    # ... a missing file is skipped like an unreadable one and listed in skipped.csv.
    pd.DataFrame(rows[:-1]).to_csv(csv, index=False)
    cfg |= {
        "runs_dir": str(tmp_path / "runs"),
        "augment": {"preset": "none", "img_size": 16},
        "train": {"epochs": 1, "batch_size": 8, "patience": None},
    }
    result = visionfit.fit(RunConfig.from_dict(cfg), progress=False)
    skipped = pd.read_csv(result.run_dir / "skipped.csv")
    assert result.skipped_files == 1 and skipped["reason"].tolist() == ["missing"]


def test_pixel_cap_is_configured_and_used_by_train_and_predict(tmp_path, run_cli):
    root = make_shapes_dataset(tmp_path / "data", n_per_class=6, size=16, classes=("a", "b"))
    big = root / "a" / "big.png"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(big)
    report = check_dataset(DataConfig(path=str(root), max_pixels=1000))
    assert [(Path(f["image"]).name, f["reason"]) for f in report.bad_files] == [
        ("big.png", "too many pixels")
    ]
    with pytest.raises(VisionfitError, match="max_pixels"):
        RunConfig.from_dict({"data": {"max_pixels": 100_000_000}})  # above Pillow's own limit
    with pytest.raises(VisionfitError, match="in_chans"):
        RunConfig.from_dict({"data": {"in_chans": 0}})
    code, _, err = run_cli(
        [
            "train", root, "--max-pixels", "1000", "--epochs", "1", "--img-size", "16",
            "--workers", "0", "--runs-dir", tmp_path / "runs", "--in-chans", "1",
        ])  # fmt: skip
    assert code == 0, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert pd.read_csv(run_dir / "skipped.csv")["reason"].tolist() == ["too many pixels"]
    assert json.loads((run_dir / "model.json").read_text())["max_pixels"] == 1000
    df = visionfit.load(run_dir).predict([big, root / "b" / "b_0000.png"])
    assert df["error"].tolist() == ["too many pixels", ""]


def test_training_and_prediction_decode_odd_files_alike(tmp_path):
    """The one decoder: the training dataset and the predictor see the same pixels."""
    from visionfit.data.datasets import ImageDataset
    from visionfit.data.transforms import create_transforms
    from visionfit.inference.predict import _PredictDataset

    odd = _odd_but_valid(tmp_path, np.random.default_rng(1))
    paths = [tmp_path / name for name in odd]
    for in_chans in (1, 3):
        tf = create_transforms("none", 20, (0.5,) * in_chans, (0.5,) * in_chans, train=False)
        train_ds = ImageDataset(paths, [0] * len(paths), tf, in_chans)
        pred_ds = _PredictDataset(paths, tf, in_chans, 20)
        for i, p in enumerate(paths):
            x_train, _ = train_ds[i]
            x_pred, _, _, err = pred_ds[i]
            assert err == "" and x_train.shape == (in_chans, 20, 20), p
            assert (x_train == x_pred).all(), p
    rotated = np.asarray(Image.open(tmp_path / "odd_rotated.jpg"))
    x, _ = ImageDataset([tmp_path / "odd_rotated.jpg"], [0], lambda image: {"image": image})[0]
    # EXIF orientation 6 (rotate 90 clockwise to display): the stored first column ends up as
    # the displayed first row, reversed.
    assert x.shape == (20, 20, 3)
    assert (x[0] == rotated[::-1, 0]).all()


def test_nothing_in_the_dataset_is_written_by_check(tmp_path, run_cli):
    root = make_shapes_dataset(tmp_path / "data", n_per_class=4, size=16, classes=("a", "b"))
    write_broken_files(root / "a", 3)
    stat_before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}
    code, _, _ = run_cli(["check", root, "--no-cache"])
    assert code == 0
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")} == stat_before
    assert not (tmp_path / "cache").exists()  # --no-cache


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX pipes and byte file names")
def test_pipes_devices_and_odd_file_names_are_named_not_hung_on(tmp_path, run_cli):
    root = make_shapes_dataset(tmp_path / "data", n_per_class=4, size=16, classes=("a", "b"))
    os.mkfifo(root / "b" / "pipe.png")  # reading it would block forever
    (root / "b" / "endless.png").symlink_to("/dev/zero")  # reading it would never end
    os.rename(root / "a" / "a_0000.png", os.fsencode(root / "a") + b"/latin\xe9.png")
    (root / "a" / "new\nline [x].png").write_bytes((root / "a" / "a_0001.png").read_bytes())
    with open(os.fsencode(root / "a") + b"/latin\xe9.png", "wb"):
        pass  # emptied: listed with its (non-UTF-8) name
    code, out, err = run_cli(["check", root, "--out", tmp_path / "r.json"])
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert {(Path(f["image"]).name, f["reason"], f["detail"]) for f in report["bad_files"]} == {
        ("pipe.png", "unreadable", "not a regular file (a named pipe)"),
        ("endless.png", "unreadable", "not a regular file (a device)"),
        ("latin\udce9.png", "zero bytes", ""),
    }
    assert report["counts"]["usable"] == 8 and "a/latin\ufffd.png" in out  # shown, no crash
    # The run's CSVs keep such names byte for byte.
    from visionfit.runs.rundir import atomic_write_csv

    usable = drop_unusable(load_samples(DataConfig(path=str(root))), DataConfig(path=str(root)))
    atomic_write_csv(tmp_path / "splits.csv", usable.samples.df)
    back = pd.read_csv(tmp_path / "splits.csv", encoding_errors="surrogateescape")
    assert sorted(back["image"]) == sorted(usable.samples.df["image"])
    assert all(os.path.isfile(p) for p in back["image"])


def test_csv_class_whose_files_are_all_missing_is_reported_empty(tmp_path, run_cli):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=4, size=16, classes=("a", "b"))
    rows = [{"image": f"a/a_{i:04d}.png", "label": "a"} for i in range(4)]
    rows += [{"image": f"b/b_{i:04d}.png", "label": "b"} for i in range(4)]
    rows += [{"image": f"c/gone_{i}.png", "label": "c"} for i in range(2)]
    csv = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    code, _, err = run_cli(["check", "--csv", csv, "--root", root])
    assert code == 1 and "class(es) without usable images: c" in " ".join(err.split())
    cfg = {"data": {"csv": str(csv), "root": str(root)}, "runs_dir": str(tmp_path / "runs")}
    with pytest.raises(DataError, match="left without usable images: c"):
        visionfit.fit(RunConfig.from_dict(cfg), progress=False)
    assert not (tmp_path / "runs").exists()  # refused before a run directory is made
