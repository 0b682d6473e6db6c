"""docs/formats/dicom.md: a folder of DICOM files (class folders, several patients, MONOCHROME1
and MONOCHROME2, a rescale slope, one JPEG-compressed file no installed handler decodes) through
`visionfit check`, `train --window C,W;C,W;C,W` and `predict`; no patient straddles the split."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from pydicom.uid import JPEGLosslessSV1

from visionfit.data.synthetic_dicom import make_dicom_dataset, write_dicom

WINDOWS = "40,80;80,200;600,2800"


@pytest.fixture(scope="module")
def dicom_data(ws):
    root = make_dicom_dataset(ws / "data" / "dicom", patients_per_class=4, images_per_patient=3)
    jpeg = np.zeros((32, 32), np.uint16)
    write_dicom(root / "circle" / "jpeg.dcm", jpeg, patient_id="circle-0",
                transfer_syntax=JPEGLosslessSV1)  # fmt: skip
    return root


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_dicom_check_train_predict(dicom_data, vf, ws, h):
    """docs/formats/dicom.md: visionfit check dicom/ --out check.json; visionfit train dicom/
    --window 40,80;80,200;600,2800 ...; visionfit predict RUN dicom/circle --out preds.csv"""
    cwd = ws / "dicom"
    res = vf("check", dicom_data, "--out", "check.json", cwd=cwd).ok()
    assert "grouped by DICOM PatientID: 8 patients" in res.out
    report = json.loads((cwd / "check.json").read_text())
    assert report["counts"]["dicom_files"] == 24 and report["counts"]["dicom_patients"] == 8
    assert report["formats"] == {"DICOM": 24}
    (bad,) = report["bad_files"]
    assert bad["image"].endswith("jpeg.dcm") and bad["reason"] == "unsupported format"
    assert bad["detail"].startswith("unsupported transfer syntax: JPEG Lossless")

    train = vf("train", dicom_data, "--window", WINDOWS, "--val-fraction", "0.25", *h.TINY,
               cwd=cwd).ok()  # fmt: skip
    assert "grouped by DICOM PatientID: 8 patients" in train.out
    run = train.run_dir()
    splits = _rows(run / "splits.csv")
    assert len(splits) == 24  # the JPEG file is skipped, never fatal
    sides: dict[str, set] = {}
    for r in splits:
        sides.setdefault(r["group"], set()).add(r["split"])
    assert len(sides) == 8 and all(len(s) == 1 for s in sides.values())
    assert {r["split"] for r in splits} == {"train", "val"}
    (skipped,) = _rows(run / "skipped.csv")
    assert skipped["image"].endswith("jpeg.dcm") and skipped["reason"] == "unsupported format"
    assert json.loads((run / "model.json").read_text())["window"] == WINDOWS

    vf("predict", run, dicom_data / "circle", "--out", "preds.csv", cwd=cwd).ok()
    preds = {r["image"].rsplit("/", 1)[-1]: r for r in _rows(cwd / "preds.csv")}
    assert len(preds) == 13 and preds["jpeg.dcm"]["error"] == "unsupported format"
    assert all(r["pred"] in ("circle", "square") for k, r in preds.items() if k != "jpeg.dcm")


def test_dicom_segmentation_with_siim_rle_csv(vf, ws, h):
    """docs/formats/dicom.md: visionfit train train-rle.csv --task segment --rle-format siim
    --root images --image-ext .dcm --in-chans 1 (the SIIM pneumothorax layout)"""
    from PIL import Image

    from visionfit.data.synthetic import make_segmentation_dataset

    folder = ws / "data" / "dicom-siim"
    csv_path = make_segmentation_dataset(
        folder, 16, size=32, seed=5, layout="rle", rle_format="siim", empty_prob=0.3
    )
    csv_path.rename(folder / "train-rle.csv")
    for k, png in enumerate(sorted((folder / "images").glob("*.png"))):
        grey = np.asarray(Image.open(png).convert("L"), np.uint16) * 16  # 12-bit DICOM
        write_dicom(png.with_suffix(".dcm"), grey, patient_id=f"P{k // 2}")
        png.unlink()
    res = vf("train", folder / "train-rle.csv", "--task", "segment", "--rle-format", "siim",
             "--root", folder / "images", "--image-ext", ".dcm", "--in-chans", "1", *h.SEG_TINY,
             cwd=ws / "dicom-siim").ok()  # fmt: skip
    assert "grouped by DICOM PatientID: 8 patients" in res.out
    splits = _rows(res.run_dir() / "splits.csv")
    assert len(splits) == 16 and all(r["image"].endswith(".dcm") for r in splits)
    sides: dict[str, set] = {}
    for r in splits:
        sides.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in sides.values())
