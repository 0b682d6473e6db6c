"""The scan and the training decoder are one code path: they agree on damaged real files, and a
file refused after the scan is left out of training, recorded, never fatal."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from visionfit.data.cache import DecodedCache, clear_memory_cache
from visionfit.data.datasets import (
    DecodeRefusals,
    ImageDataset,
    collate_decoded,
    skipped_rows,
)
from visionfit.data.io import ImageDecodeError, decode_file, decode_image, file_sha1
from visionfit.data.scan import scan_file

sys.path.insert(0, str(Path(__file__).parent))  # the damage helper beside this file
from damage import flip_idat, save_image, truncate, zero_range  # noqa: E402

MAX = 64_000_000


def _decodes(path) -> bool:
    try:
        decode_image(path)
        return True
    except ImageDecodeError:
        return False


@pytest.fixture
def damaged(tmp_path):
    files = {}
    for i, (name, damage) in enumerate(
        [
            ("flip.png", flip_idat),
            ("trunc.png", truncate),
            ("trunc.jpg", truncate),
            ("zero.png", zero_range),
            ("zero.jpg", zero_range),
            ("good.png", None),
            ("good.jpg", None),
        ]
    ):
        p = save_image(tmp_path / "img" / name, i)
        files[name] = damage(p) if damage else p
    return files


def test_scan_and_decoder_agree_on_damaged_files(damaged):
    for name, path in damaged.items():
        scanned = scan_file(str(path), max_pixels=MAX)
        assert scanned.ok == _decodes(path), name
    assert not scan_file(str(damaged["flip.png"]), max_pixels=MAX).ok  # the reported case
    assert scan_file(str(damaged["good.png"]), max_pixels=MAX).ok


def test_a_header_read_that_loads_pixels_does_not_hide_the_error(damaged):
    # Pillow's PNG getexif() loads the pixels (no eXIf before IDAT); its error is swallowed,
    # after which load() returns without error on the half-filled image.
    touched = []

    def early_exif(im: Image.Image) -> None:
        touched.append(im.format)

    data = damaged["flip.png"].read_bytes()
    with Image.open(io.BytesIO(data)) as im, pytest.raises(OSError):
        im.getexif()  # not swallowed here: this is what used to be swallowed
    with pytest.raises(ImageDecodeError):
        decode_file(str(damaged["flip.png"]), data=data, on_decoded=early_exif)
    assert touched == []  # never called for a refused file
    arr = decode_file(str(damaged["good.png"]), on_decoded=lambda im: im.getexif())
    assert arr.shape == (32, 32, 3)


def test_cache_build_leaves_out_a_file_refused_after_the_scan(tmp_path, damaged):
    good = [str(damaged["good.png"]), str(damaged["good.jpg"])]
    late = str(save_image(tmp_path / "img" / "late.png", 9))
    assert scan_file(late, max_pixels=MAX).ok
    flip_idat(tmp_path / "img" / "late.png")  # damaged after the scan
    clear_memory_cache()
    for mode in ("memory", "disk"):
        cache = DecodedCache.build([*good, late], size=16, mode=mode, cache_dir=tmp_path / "cache")
        assert list(cache.refused_items()) == [os.path.abspath(late)]
        with pytest.raises(ImageDecodeError):
            cache[2]  # never its zeros
        assert cache[0].shape == (16, 16, 3)
    # the refused row is not reused from disk as if it were decoded
    again = DecodedCache.build([*good, late], size=16, mode="disk", cache_dir=tmp_path / "cache")
    assert again.decoded == 1 and list(again.refused_items()) == [os.path.abspath(late)]


def test_loader_records_a_refused_file_and_drops_it_from_its_batch(tmp_path, damaged):
    paths = [damaged["good.png"], damaged["flip.png"], damaged["good.jpg"]]
    log = DecodeRefusals(tmp_path / "refused.jsonl")
    ds = ImageDataset(paths, [0, 1, 0], lambda image: {"image": image}, refusals=log)
    batch = collate_decoded([ds[i] for i in range(3)])
    assert len(batch[0]) == 2  # the bad one left out, not replaced
    assert collate_decoded([ds[1]]) is None  # Lightning skips a None training batch
    assert list(log.read()) == [str(damaged["flip.png"])]
    with pytest.raises(Exception, match="refused by the decoder after the data scan"):
        ImageDataset(paths, [0, 1, 0], lambda image: {"image": image})[1]


def test_changed_after_the_scan_only_when_the_file_changed(tmp_path):
    same = save_image(tmp_path / "same.png", 1)
    flip_idat(same)
    changed = save_image(tmp_path / "changed.png", 2)
    before = file_sha1(changed)
    flip_idat(changed)
    refused = {str(same): ("unreadable", "broken data stream"), str(changed): ("unreadable", "x")}
    sha1 = {str(same): file_sha1(same), str(changed): before}
    rows = {r[0]: r for r in skipped_rows(refused, {str(same): "a"}, sha1)}
    assert "changed after" not in rows[str(same)][3]
    assert (
        rows[str(same)][3].startswith("broken data stream")
        and "file unchanged" in rows[str(same)][3]
    )
    assert rows[str(same)][1:3] == ("a", "unreadable")
    assert rows[str(changed)][3].startswith("the file changed after the data scan")


def test_a_run_goes_on_when_a_file_is_damaged_after_the_scan(tmp_path, fast_config):
    import lightning as L

    from visionfit import fit

    data = tmp_path / "data"
    for c, cls in enumerate(("a", "b")):
        for i in range(8):
            save_image(data / cls / f"{cls}{i}.{'png' if i % 2 else 'jpg'}", 10 * c + i)
    victim = data / "a" / "a1.png"

    class DamageAtStart(L.Callback):  # after the scan and the loaders: the loader refuses it
        def on_train_start(self, trainer, pl_module):
            flip_idat(victim)

    cfg = fast_config(data, tmp_path / "runs", epochs=1, batch_size=4).with_overrides(
        {"data.cache": "none", "data.val_fraction": 0.25}
    )
    result = fit(cfg, progress=False, callbacks=[DamageAtStart()])
    skipped = pd.read_csv(result.run_dir / "skipped.csv", dtype=str, keep_default_na=False)
    assert list(skipped["image"]) == [str(victim)]
    assert skipped["detail"][0].startswith("the file changed after the data scan")
    assert result.skipped_files == 1
    assert (result.run_dir / "model.safetensors").is_file()
    assert not (result.run_dir / "refused-while-training.jsonl").exists()
    assert np.isfinite(result.best_metrics.get("train_loss", 0.0))
