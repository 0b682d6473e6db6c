"""DICOM decoding (data/dicom.py through data/io.py): rescale, windows, MONOCHROME1, colour,
transfer syntaxes, bad files, PatientID groups and the scan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydicom.uid import JPEGLosslessSV1, RLELossless

from visionfit.config import DataConfig
from visionfit.config.windows import parse_windows
from visionfit.data.dicom import patient_groups
from visionfit.data.io import ImageDecodeError, decode_file, decode_image, is_image_file
from visionfit.data.scan import scan_file
from visionfit.data.splits import holdout_split
from visionfit.data.synthetic_dicom import write_dicom

# stored 0, 1000, 2000, 4000 -> with slope 2, intercept -1000: -1000, 1000, 3000, 7000
STORED = np.array([[0, 1000], [2000, 4000]], np.uint16)


def _decode(path, **kw) -> np.ndarray:
    return decode_file(str(path), in_chans=kw.pop("in_chans", 1), **kw)


def test_full_range_of_the_rescaled_values_without_a_window(tmp_path) -> None:
    p = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1000)
    out = _decode(p)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 1)
    # min..max of -1000..7000 -> 0..255: 1000 is 2000/8000 of the way, 3000 is 4000/8000
    assert out[..., 0].tolist() == [[0, 64], [128, 255]]


def test_rescale_then_the_file_window(tmp_path) -> None:
    # window on the rescaled values: centre 1000, width 2000 -> 0 below 0, 255 above 2000
    p = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1000, window=(1000, 2000))
    assert _decode(p)[..., 0].tolist() == [[0, 128], [255, 255]]
    # without the rescale, the same window sees the stored values: 0 -> 0, 1000 -> 128, ...
    q = write_dicom(tmp_path / "b.dcm", STORED, window=(1000, 2000))
    assert _decode(q)[..., 0].tolist() == [[0, 128], [255, 255]]
    r = write_dicom(tmp_path / "c.dcm", STORED, slope=2, intercept=-1000, window=(3000, 2000))
    assert _decode(r)[..., 0].tolist() == [[0, 0], [128, 255]]


def test_user_window_overrides_the_file_window(tmp_path) -> None:
    p = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1000, window=(1000, 2000))
    assert _decode(p, window="3000,2000")[..., 0].tolist() == [[0, 0], [128, 255]]
    # the file's own window given by hand: the same pixels
    assert np.array_equal(_decode(p, window="1000,2000"), _decode(p))


def test_several_windows_are_one_channel_each(tmp_path) -> None:
    p = write_dicom(tmp_path / "a.dcm", STORED, slope=2, intercept=-1000)
    out = _decode(p, in_chans=3, window="1000,2000;3000,2000;3000,8001")
    assert out.shape == (2, 2, 3)
    assert out[..., 0].tolist() == [[0, 128], [255, 255]]
    assert out[..., 1].tolist() == [[0, 0], [128, 255]]
    assert out[..., 2].tolist() == [[0, 64], [128, 255]]  # a wide window: (v - 2999.5) / 8000 + .5


def test_monochrome1_is_inverted(tmp_path) -> None:
    m2 = write_dicom(tmp_path / "m2.dcm", STORED)
    m1 = write_dicom(tmp_path / "m1.dcm", STORED, photometric="MONOCHROME1")
    assert _decode(m1)[..., 0].tolist() == [[255, 191], [128, 0]]
    # inverted before the rounding to 0..255: a mid-grey 0.5 is 128 in both
    assert np.abs(_decode(m1).astype(int) - (255 - _decode(m2).astype(int))).max() <= 1
    # a window applies before the inversion: high values are bright in both
    w1 = write_dicom(tmp_path / "w1.dcm", STORED, photometric="MONOCHROME1")
    assert _decode(w1, window="1000,2000")[..., 0].tolist() == [[255, 127], [0, 0]]


def test_grey_to_three_channels_and_rgb_kept(tmp_path) -> None:
    p = write_dicom(tmp_path / "a.dcm", STORED)
    out = _decode(p, in_chans=3)
    assert out.shape == (2, 2, 3) and (out[..., 0] == out[..., 2]).all()
    rgb = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    q = write_dicom(tmp_path / "rgb.dcm", rgb)
    assert np.array_equal(_decode(q, in_chans=3), rgb)


def test_rle_lossless_decodes_with_pydicom_alone(tmp_path) -> None:
    plain = write_dicom(tmp_path / "plain.dcm", STORED)
    rle = write_dicom(tmp_path / "rle.dcm", STORED, transfer_syntax=RLELossless)
    assert np.array_equal(_decode(rle), _decode(plain))


def test_unsupported_transfer_syntax_is_named(tmp_path) -> None:
    p = write_dicom(tmp_path / "jpeg.dcm", STORED, transfer_syntax=JPEGLosslessSV1)
    with pytest.raises(ImageDecodeError) as e:
        _decode(p)
    assert e.value.reason == "unsupported format"
    assert e.value.detail.startswith("unsupported transfer syntax: JPEG Lossless")
    assert "pylibjpeg" in e.value.detail
    info = scan_file(str(p), max_pixels=10**6)  # check lists it, train skips it
    assert not info.ok and info.reason == "unsupported format" and "JPEG" in info.detail


def test_bad_dicom_files_get_a_reason(tmp_path) -> None:
    good = write_dicom(tmp_path / "a.dcm", STORED).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(good[:-3])
    (tmp_path / "text.dcm").write_bytes(b"not a dicom file")
    assert scan_file(str(tmp_path / "cut.dcm"), max_pixels=10**6).reason == "truncated"
    assert scan_file(str(tmp_path / "text.dcm"), max_pixels=10**6).reason == "not an image"
    big = scan_file(str(tmp_path / "a.dcm"), max_pixels=3)
    assert big.reason == "too many pixels"


def test_dicm_magic_without_extension_and_bytes(tmp_path) -> None:
    p = write_dicom(tmp_path / "a.dcm", STORED)
    bare = tmp_path / "IM0001"
    bare.write_bytes(p.read_bytes())
    assert is_image_file(p) and not is_image_file(bare)
    assert np.array_equal(_decode(bare), _decode(p))
    assert np.array_equal(decode_image(p.read_bytes(), in_chans=1), _decode(p))


def test_scan_records_dicom_format_patient_and_phash(tmp_path) -> None:
    p = write_dicom(tmp_path / "a.dcm", STORED, patient_id=" P-7 ")
    info = scan_file(str(p), max_pixels=10**6)
    assert info.ok and info.format == "DICOM" and info.mode == "L"
    assert info.patient == "P-7" and len(info.phash) == 16 and (info.width, info.height) == (2, 2)


def test_patient_groups_keep_patients_on_one_side() -> None:
    images = [f"/d/{p}-{i}.dcm" for p in "abcdefgh" for i in range(3)]
    df = pd.DataFrame({"image": images, "label": "x", "target": [0, 1] * 12, "split": ""})
    patient = {im: im[3] for im in images[:-1]}  # the last image has no PatientID
    grouped, note = patient_groups(df, patient)
    assert note.startswith("grouped by DICOM PatientID: 8 patients (1 image(s) without one")
    split = holdout_split(grouped, 0.25, seed=0)
    sides = split.groupby("group")["split"].nunique()
    assert (sides == 1).all() and set(split["split"]) == {"train", "val"}
    same, note = patient_groups(df, dict.fromkeys(images, "anon"))
    assert "group" not in same.columns and "same one ('anon')" in note


def test_window_option_is_validated() -> None:
    assert parse_windows("40,80; 80,200") == ((40.0, 80.0), (80.0, 200.0))
    for bad in ("40", "40,80,1", "a,b", "40,0", "40,nan"):
        with pytest.raises(ValueError):
            parse_windows(bad)
    assert DataConfig(window="40,80;80,200;600,2800").window
    with pytest.raises(ValueError, match="add --in-chans 2"):
        DataConfig(window="40,80;80,200")
