"""README "Augmentation": `--augment FILE` (an albumentations pipeline, the issue's tutorial one),
`--vflip`, `--rot90`, the run's augment.yaml passed back, and a bad file (32 px, 1 epoch)."""

from __future__ import annotations

import albumentations as A
import pytest
import yaml

# The README's pipeline (Rotate ±45 p 0.6, CoarseDropout 1 hole of 64 px p 0.3, Affine p 0.8,
# OneOf[gamma, brightness/contrast]) with the hole scaled from 256 px images to 32 px: 8 px.
PIPE = """\
transform:
  __class_fullname__: Compose
  transforms:
  - {__class_fullname__: Rotate, limit: [-45, 45], p: 0.6}
  - {__class_fullname__: CoarseDropout, num_holes_range: [1, 1],
     hole_height_range: [8, 8], hole_width_range: [8, 8], p: 0.3}
  - {__class_fullname__: Affine, translate_percent: [-0.0625, 0.0625], scale: [0.9, 1.1],
     rotate: [-45, 45], p: 0.8}
  - __class_fullname__: OneOf
    p: 0.5
    transforms:
    - {__class_fullname__: RandomGamma, gamma_limit: [80, 120], p: 1.0}
    - {__class_fullname__: RandomBrightnessContrast, p: 1.0}
"""


def _ops(text: str, extra: tuple = ()) -> dict:
    """A pipeline's albumentations dict as A.from_dict builds it (defaults filled in)."""
    compose = A.from_dict(yaml.safe_load(text))
    return A.to_dict(A.Compose([*compose.transforms, *extra]))["transform"]


@pytest.fixture(scope="module")
def aug_jobs(jobs, vf, ws, shapes, seg_data, h):
    cwd = ws / "augment"
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "pipe.yaml").write_text(PIPE)
    jobs.submit(
        "augment-file", lambda: vf("train", shapes, *h.TINY, "--augment", "pipe.yaml", cwd=cwd)
    )
    jobs.submit(
        "augment-seg",
        lambda: vf(
            "train",
            seg_data,
            "--task",
            "segment",
            *h.SEG_TINY,
            "--augment",
            "pipe.yaml",
            "--vflip",
            "--rot90",
            "--name",
            "seg-aug",
            cwd=cwd,
        ),  # fmt: skip
    )
    return jobs, cwd


def test_train_with_an_albumentations_file(aug_jobs, h):
    """README: visionfit train DATA --augment pipe.yaml --img-size 256"""
    jobs, _ = aug_jobs
    run = jobs.get("augment-file").ok().run_dir()
    h.assert_run_dir(run)
    written = (run / "augment.yaml").read_text()
    assert _ops(written) == _ops(PIPE)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["augment"]["preset"] == "pipe.yaml"
    assert not config["augment"]["vflip"] and not config["augment"]["rot90"]


def test_segment_with_a_file_vflip_and_rot90(aug_jobs, h):
    """README: --augment FILE with --task segment, plus --vflip --rot90 (masks move along)."""
    jobs, _ = aug_jobs
    run = jobs.get("augment-seg").ok().run_dir("seg-aug*")
    h.assert_run_dir(run)
    extra = (A.VerticalFlip(p=0.5), A.RandomRotate90(p=0.5))
    assert _ops((run / "augment.yaml").read_text()) == _ops(PIPE, extra)
    assert (run / "val_scores.csv").is_file()


def test_the_runs_augment_yaml_goes_back_in(aug_jobs, vf, shapes, h):
    """README: the run's augment.yaml, copied and edited, is an --augment FILE."""
    jobs, cwd = aug_jobs
    first = jobs.get("augment-file").ok().run_dir()
    edited = (first / "augment.yaml").read_text().replace("p: 0.6", "p: 0.9")
    (cwd / "edited.yaml").write_text(edited)
    again = vf("train", shapes, *h.TINY, "--augment", "edited.yaml", "--name", "again", cwd=cwd)
    run = again.ok().run_dir("again*")
    ops = _ops((run / "augment.yaml").read_text())
    assert ops == _ops(edited) and ops["transforms"][0]["p"] == 0.9


def test_a_bad_augment_file_is_one_line(vf, ws, shapes, h):
    cwd = ws / "augment-bad"
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "bad.yaml").write_text(PIPE.replace("Rotate,", "Rotat,"))
    res = vf("train", shapes, *h.TINY, "--augment", "bad.yaml", cwd=cwd)
    line = h.one_line_error(res)
    assert "bad.yaml" in line and "unknown albumentations transform 'Rotat'" in line
    (cwd / "resize.yaml").write_text(
        PIPE.replace("Rotate, limit: [-45, 45]", "Resize, height: 8, width: 8")
    )
    line = h.one_line_error(vf("train", shapes, *h.TINY, "--augment", "resize.yaml", cwd=cwd))
    assert "resize.yaml" in line and "Resize does not belong" in line
    assert not (cwd / "runs").exists() or not any((cwd / "runs").iterdir())
