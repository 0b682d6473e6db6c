"""Small generated DICOM files (pydicom) for tests and for trying the DICOM input without data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionfit.data.synthetic import SHAPES, draw_shape


def write_dicom(
    path: str | Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
    patient_id: str | None = None,
    transfer_syntax: str | None = None,
) -> Path:
    """Write `pixels` (HxW uint16, or HxWx3 uint8 RGB) as a DICOM file (explicit VR little
    endian, else `transfer_syntax`: compressed by pydicom where it has an encoder (RLE Lossless),
    else the raw bytes encapsulated as one fragment, a file only its header can be read from)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality = "OT"
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.Rows, ds.Columns = pixels.shape[:2]
    colour = pixels.ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else photometric
    if colour:
        ds.PlanarConfiguration = 0
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if slope is not None or intercept is not None:
        ds.RescaleSlope = slope if slope is not None else 1
        ds.RescaleIntercept = intercept if intercept is not None else 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if transfer_syntax is not None:
        _compress(ds, transfer_syntax)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


def make_dicom_dataset(
    root: str | Path,
    patients_per_class: int = 4,
    images_per_patient: int = 3,
    *,
    classes: tuple[str, ...] = SHAPES[:2],
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Class folders of 16-bit DICOM files, `images_per_patient` per PatientID (patient
    `<class>-<k>`), half MONOCHROME1 (stored inverted) with a rescale slope and intercept."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for c in classes:
        for k in range(patients_per_class):
            for j in range(images_per_patient):
                gray = np.asarray(draw_shape(c, size, rng, mode="L"), dtype=np.float64)
                stored = np.round(gray * 16.0).astype(np.uint16)  # 12 bits of signal
                mono1 = (k + j) % 2 == 1
                if mono1:
                    stored = (4095 - stored).astype(np.uint16)
                write_dicom(
                    root / c / f"{c}-{k}-{j}.dcm",
                    stored,
                    photometric="MONOCHROME1" if mono1 else "MONOCHROME2",
                    slope=0.5,
                    intercept=-1024.0,
                    patient_id=f"{c}-{k}",
                )
    return root


def _compress(ds, uid: str) -> None:
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    try:
        ds.compress(uid)
    except (RuntimeError, ValueError, NotImplementedError):  # no encoder for it installed
        ds.PixelData = encapsulate([ds.PixelData])
        ds.file_meta.TransferSyntaxUID = UID(uid)
