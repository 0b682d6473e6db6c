"""Augmentation as data: presets and user pipelines are albumentations files (data/augment.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
import yaml

from visionfit.config import RunConfig
from visionfit.config.sections import AUGMENT_PRESETS
from visionfit.data import augment as G
from visionfit.data.datasets import ImageDataset
from visionfit.data.transforms import create_transforms
from visionfit.errors import DataError, VisionfitError

# the augmentation guide (moved there from the README)
README = Path(__file__).parents[2] / "docs" / "guides" / "train.md"
SIZE = 32


def tutorial_pipeline(hole: int = 8) -> A.Compose:
    """The issue's tutorial pipeline, scaled to 32 px images (a 64 px hole at 256 px -> 8 px)."""
    return A.Compose(
        [
            A.Rotate(limit=45, p=0.6),
            A.CoarseDropout(
                num_holes_range=(1, 1),
                hole_height_range=(hole, hole),
                hole_width_range=(hole, hole),
                p=0.3,
            ),
            A.Affine(
                translate_percent=(-0.0625, 0.0625), scale=(0.9, 1.1), rotate=(-45, 45), p=0.8
            ),
            A.OneOf([A.RandomGamma(p=1.0), A.RandomBrightnessContrast(p=1.0)], p=0.5),
        ]
    )


def _write(path: Path, compose: A.Compose) -> Path:
    raw = G.augment_dict(compose)
    if path.suffix == ".json":
        path.write_text(json.dumps(raw))
    else:
        path.write_text(yaml.safe_dump(raw))
    return path


def _file(tmp_path: Path, ops: list[dict], name: str = "pipe.yaml") -> Path:
    p = tmp_path / name
    p.write_text(
        yaml.safe_dump({"transform": {"__class_fullname__": "Compose", "transforms": ops}})
    )
    return p


# ---- presets: files shipped with the package, and the guide's table of them ------------------


def test_the_preset_files_are_the_config_presets():
    assert G.list_presets() == sorted(AUGMENT_PRESETS)
    for name in AUGMENT_PRESETS:
        compose = G.read_augment(name)
        assert isinstance(compose, A.Compose)
        # a preset file is albumentations' own format: A.from_dict reads it unaided
        raw = yaml.safe_load((G.PRESETS_DIR / f"{name}.yaml").read_text())
        assert A.to_dict(A.from_dict(raw)) == A.to_dict(compose)


def test_readme_table_describes_every_preset_file():
    text = README.read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", text, re.M))
    for name in AUGMENT_PRESETS:
        assert rows.get(name) == G.describe(G.read_augment(name)), name


def test_readme_example_pipeline_loads():
    text = README.read_text()
    section = text[text.index("## Augmentation") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    compose = G.pipeline_from_dict(yaml.safe_load(block), "README")
    names = [type(t).__name__ for t in compose.transforms]
    assert names == ["Rotate", "CoarseDropout", "Affine", "OneOf"]


def test_presets_have_no_vertical_flip_and_heavy_has_noise():
    for name in AUGMENT_PRESETS:
        ops = {type(t).__name__ for t in G._walk(G.read_augment(name))}
        assert "VerticalFlip" not in ops and "RandomRotate90" not in ops
    heavy = {type(t).__name__ for t in G._walk(G.read_augment("heavy"))}
    assert {"GaussNoise", "SaltAndPepper", "CoarseDropout", "RandomGamma"} <= heavy


# ---- a user's file ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pipe.yaml", "pipe.yml", "pipe.json"])
def test_a_file_round_trips(tmp_path, name):
    want = tutorial_pipeline()
    path = _write(tmp_path / name, want)
    got = G.read_augment(str(path))
    assert A.to_dict(got) == A.to_dict(want)


def test_a_file_written_by_albumentations_save_loads(tmp_path):
    path = tmp_path / "saved.yaml"
    A.save(tutorial_pipeline(), str(path), data_format="yaml")
    assert A.to_dict(G.read_augment(str(path))) == A.to_dict(tutorial_pipeline())


def test_one_transform_alone_is_a_pipeline(tmp_path):
    p = tmp_path / "one.json"
    p.write_text(json.dumps({"__class_fullname__": "HorizontalFlip", "p": 1.0}))
    compose = G.read_augment(str(p))
    assert [type(t).__name__ for t in compose.transforms] == ["HorizontalFlip"]


@pytest.mark.parametrize(
    ("ops", "says"),
    [
        ([{"__class_fullname__": "Rotat", "p": 0.5}], "unknown albumentations transform 'Rotat'"),
        ([{"__class_fullname__": "Rotate", "limit": "abc"}], "bad argument limit"),
        ([{"__class_fullname__": "Rotate", "limitt": 3}], "'limitt' are not valid"),
        ([{"__class_fullname__": "Resize", "height": 8, "width": 8}], "Resize does not belong"),
        ([{"__class_fullname__": "Normalize"}], "Normalize does not belong"),
        ([{"__class_fullname__": "ToTensorV2"}], "ToTensorV2 does not belong"),
        (
            [{"__class_fullname__": "OneOf", "transforms": [{"__class_fullname__": "Nope"}]}],
            "unknown albumentations transform 'Nope'",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path, ops, says):
    path = _file(tmp_path, ops)
    with pytest.raises(DataError) as e:
        G.read_augment(str(path))
    msg = str(e.value)
    assert says in msg and str(path) in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("- 1\n- 2\n", "is not an albumentations pipeline"),
        ("transform: [1]\n", "not an albumentations pipeline"),
        ("a: [\n", "is not valid YAML"),
    ],
)
def test_a_file_that_is_not_a_pipeline(tmp_path, content, says):
    p = tmp_path / "x.yaml"
    p.write_text(content)
    with pytest.raises(DataError, match=re.escape(says)):
        G.read_augment(str(p))


def test_missing_and_bad_json(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        G.read_augment(str(tmp_path / "gone.yaml"))
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(DataError, match="is not valid JSON"):
        G.read_augment(str(tmp_path / "x.json"))


def test_config_takes_a_preset_or_a_file_name():
    assert (
        RunConfig.from_dict({"augment": {"preset": "x/pipe.yaml"}}).augment.preset == "x/pipe.yaml"
    )
    assert RunConfig.from_dict({"augment": {"preset": "heavy"}}).augment.preset == "heavy"
    with pytest.raises(VisionfitError, match="neither a preset"):
        RunConfig.from_dict({"augment": {"preset": "heavvy"}})


# ---- masks move with images, never interpolated ----------------------------------------------


def test_masks_are_moved_with_nearest_neighbour(tmp_path):
    ops = [
        {"__class_fullname__": "Rotate", "limit": [-45, 45], "mask_interpolation": 1, "p": 1.0},
        {"__class_fullname__": "Affine", "scale": [0.7, 1.3], "mask_interpolation": 2, "p": 1.0},
        {"__class_fullname__": "ElasticTransform", "mask_interpolation": 1, "p": 1.0},
        {"__class_fullname__": "RandomCrop", "height": 20, "width": 20, "p": 1.0},
        {"__class_fullname__": "GaussNoise", "p": 1.0},
    ]
    compose = G.read_augment(str(_file(tmp_path, ops)))
    for t in G._walk(compose):
        if hasattr(t, "mask_interpolation"):
            assert t.mask_interpolation == cv2.INTER_NEAREST
    tf = create_transforms(compose, SIZE, (0.5,) * 3, (0.5,) * 3, train=True)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (50, 40, 3), dtype=np.uint8)
    mask = np.zeros((50, 40), np.uint8)
    mask[10:30, 5:25], mask[30:, 20:] = 1, 2
    for seed in range(10):
        tf.set_random_seed(seed)
        out = tf(image=img, mask=mask)
        # the crop is resized back to the input size; the mask keeps class indices only
        assert tuple(out["image"].shape) == (3, SIZE, SIZE)
        assert tuple(out["mask"].shape) == (SIZE, SIZE)
        assert set(np.unique(np.asarray(out["mask"]))) <= {0, 1, 2}


def test_every_preset_keeps_mask_values():
    img = np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    mask = (np.arange(40 * 40).reshape(40, 40) % 3).astype(np.uint8)
    for name in AUGMENT_PRESETS:
        tf = create_transforms(name, SIZE, (0.5,) * 3, (0.5,) * 3, train=True)
        for seed in range(5):
            tf.set_random_seed(seed)
            out = np.asarray(tf(image=img, mask=mask)["mask"])
            assert set(np.unique(out)) <= {0, 1, 2}, name


# ---- seeding: a loaded nested pipeline repeats per (seed, epoch, index) ----------------------


def test_file_pipeline_draws_repeat_per_seed_epoch_index(tmp_path):
    path = _write(tmp_path / "pipe.yaml", tutorial_pipeline())
    tf = create_transforms(str(path), SIZE, (0.5,) * 3, (0.5,) * 3, train=True)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(3)]
    ds = ImageDataset(images, [0, 1, 2], tf, seed=7)
    first = [ds[(e, i)][0].numpy() for e in range(4) for i in range(3)]
    again = [ds[(e, i)][0].numpy() for e in range(4) for i in range(3)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # the draws differ between epochs (12 items, all the same would be no augmentation)
    assert len({a.tobytes() for a in first[::3]}) > 1


# ---- --vflip, --rot90, the written pipeline --------------------------------------------------


def test_vflip_and_rot90_are_appended_to_any_pipeline(tmp_path):
    cfg = RunConfig.from_dict({"augment": {"preset": "medium", "vflip": True, "rot90": True}})
    names = [type(t).__name__ for t in G.create_augment(cfg.augment).transforms]
    assert names[-2:] == ["VerticalFlip", "RandomRotate90"]
    assert names[:-2] == [type(t).__name__ for t in G.read_augment("medium").transforms]


def test_run_augment_text_is_the_resolved_pipeline(tmp_path):
    path = _write(tmp_path / "pipe.yaml", tutorial_pipeline())
    cfg = RunConfig.from_dict({"augment": {"preset": str(path), "vflip": True}})
    text = G.run_augment_text(cfg.augment)
    assert text.startswith("# The training augmentation of this run: the file")
    raw = yaml.safe_load(text)
    want = A.Compose([*tutorial_pipeline().transforms, A.VerticalFlip(p=0.5)])
    assert A.to_dict(A.from_dict(raw))["transform"] == A.to_dict(want)["transform"]
    # and it goes back in as --augment
    back = tmp_path / "back.yaml"
    back.write_text(text)
    assert A.to_dict(G.read_augment(str(back))) == A.to_dict(want)


def test_a_pipeline_applied_some_of_the_time_keeps_its_p(tmp_path):
    p = tmp_path / "half.yaml"
    p.write_text(yaml.safe_dump(G.augment_dict(A.Compose([A.InvertImg(p=1.0)], p=0.0))))
    img = np.full((SIZE, SIZE, 3), 10, np.uint8)
    tf = create_transforms(str(p), SIZE, (0.0,) * 3, (1 / 255,) * 3, train=True)
    assert float(tf(image=img)["image"].max()) == 10.0  # p 0: never inverted
    cfg = RunConfig.from_dict({"augment": {"preset": str(p), "vflip": True}})
    ops = G.create_augment(cfg.augment).transforms
    assert isinstance(ops[0], A.Compose) and ops[0].p == 0.0


def test_a_pipeline_that_cannot_run_at_the_image_size_is_one_line_before_training():
    import albumentations as A

    from visionfit.data.augment import check_runs, read_augment
    from visionfit.errors import DataError

    hole = A.Compose([A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(64, 64),
                                      hole_width_range=(64, 64), p=1.0)])  # fmt: skip
    check_runs(hole, 128, 3, "pipe.yaml")  # fits
    with pytest.raises(DataError, match=r"pipe.yaml cannot run on a 32 x 32 x 3 image"):
        check_runs(hole, 32, 3, "pipe.yaml")
    for preset in ("none", "light", "medium", "heavy", "trivial"):  # the presets run anywhere
        for chans in (1, 3):
            check_runs(read_augment(preset), 16, chans, preset)
