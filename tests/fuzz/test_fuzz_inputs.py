"""Property-based damage (Hypothesis) for every reader of what a user hands us: each one either
accepts the input or raises one `VisionfitError` (the CLI's one line and exit 2) — never another
exception, never a hang, never unbounded output.

Examples are derandomized, so a failure is reproduced by the next run (and in CI)."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionfit.errors import VisionfitError

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a careless user's files hold: CSV punctuation, quotes, numbers, non-ASCII, control bytes.
csv_text = st.text(
    alphabet=st.sampled_from(list(",;|\t\n\r\"' =-.:#[]{}&*!%@") + list("ab1é€\x00\ufeff")),
    max_size=200,
)


def _accepts_or_refuses(fn, *args, **kwargs):
    """Call `fn`: its value, or None when it refused with a VisionfitError (one line)."""
    try:
        return fn(*args, **kwargs)
    except VisionfitError as e:
        message = str(e)
        assert message and len(message) < 2000, f"unbounded message: {len(message)} chars"
        return None


# --------------------------------------------------------------------------------------------
# user CSVs


@FUZZ
@given(
    data=st.one_of(
        csv_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        csv_text.map(lambda t: t.encode("utf-16")),
        st.binary(max_size=300),
    )
)
def test_user_csv_any_bytes(tmp_path, data):
    from visionfit.usercsv import read_user_csv

    p = tmp_path / "in.csv"
    p.write_bytes(data)
    table = _accepts_or_refuses(read_user_csv, p, required=[("image", "--image-col")])
    if table is not None:
        assert "image" in table.df.columns
        assert all(isinstance(v, str) for v in table.df["image"])


# --------------------------------------------------------------------------------------------
# RLE strings


rle_text = st.one_of(
    st.lists(st.integers(-5, 10_000), max_size=12).map(lambda xs: " ".join(map(str, xs))),
    st.lists(st.integers(-(2**70), 2**70), max_size=4).map(lambda xs: " ".join(map(str, xs))),
    st.text(alphabet=string.digits + " -+.e\t\nx١", max_size=40),
    st.sampled_from(["", "-1", "nan", "None", "1 2 3", "0 5", "1 0"]),
)


@FUZZ
@given(value=rle_text, fmt=st.sampled_from(["kaggle", "siim"]), order=st.sampled_from("FC"))
def test_rle_decode_any_text(value, fmt, order):
    from visionfit.data.rle import rle_decode, rle_encode

    mask = _accepts_or_refuses(rle_decode, value, (16, 24), fmt=fmt, order=order)
    if mask is not None:
        assert mask.shape == (16, 24) and set(np.unique(mask)) <= {0, 1}
        again = rle_decode(rle_encode(mask, fmt=fmt, order=order), (16, 24), fmt=fmt, order=order)
        assert (again == mask).all()  # what we accept, we write back the same


# --------------------------------------------------------------------------------------------
# configs: YAML files and --set values


yaml_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
config_keys = st.sampled_from(
    [
        "train.lr", "train.epochs", "train.batch_size", "train.seed", "train.opt", "train.sched",
        "train.patience", "train.precision", "augment.img_size", "augment.preset",
        "model.name", "model.in_chans", "data.val_fraction", "data.workers", "data.max_pixels",
        "data.label_col", "cv.folds", "seed", "nonsense.key", "train", "model",
    ]
)  # fmt: skip


@FUZZ
@given(overrides=st.dictionaries(config_keys, yaml_scalar, max_size=4))
def test_config_overrides_any_values(overrides):
    from visionfit.config import RunConfig

    cfg = _accepts_or_refuses(RunConfig().with_overrides, overrides)
    if cfg is not None:
        assert cfg.train.epochs >= 1 and cfg.train.batch_size >= 1
        assert cfg.train.lr > 0 and np.isfinite(cfg.train.lr)


@FUZZ
@given(text=st.text(alphabet=list("{}[]:,&*!|>-'\" \n\tabc1.%@?"), max_size=120))
def test_config_file_any_yaml(tmp_path, text):
    from visionfit.config import RunConfig

    p = tmp_path / "config.yaml"
    p.write_text(text)
    _accepts_or_refuses(RunConfig.from_yaml, p)


@FUZZ
@given(item=st.text(max_size=40))
def test_set_option_any_text(item):
    from visionfit.cli.configure import parse_sets

    out = _accepts_or_refuses(parse_sets, [item])
    if out is not None:
        assert len(out) == 1


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    """The "billion laughs": 9 aliases per level, 8 levels, 600 bytes that expand to 43M items."""
    from visionfit.config import RunConfig

    levels = ['&a0 ["x","x","x","x","x","x","x","x","x"]']
    for k in range(1, 8):
        levels.append(f"&a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]")
    p = tmp_path / "bomb.yaml"  # every anchor inside a valid key's value
    p.write_text("train:\n  lr: [" + ", ".join(levels) + "]\n")
    with pytest.raises(VisionfitError) as e:
        RunConfig.from_yaml(p)
    assert len(str(e.value)) < 500


# --------------------------------------------------------------------------------------------
# image bytes: the one decoder decides, for check, train and predict alike


def _png_bytes(seed: int) -> bytes:
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png_bytes(0)


@FUZZ
@given(
    cut=st.integers(0, len(PNG)),
    flips=st.lists(st.tuples(st.integers(0, len(PNG) - 1), st.integers(1, 255)), max_size=6),
    tail=st.binary(max_size=20),
)
def test_decode_damaged_png(tmp_path, cut, flips, tail):
    from visionfit.data.io import decode_file

    data = bytearray(PNG[:cut])
    for pos, xor in flips:
        if pos < len(data):
            data[pos] ^= xor
    p = tmp_path / "x.png"
    p.write_bytes(bytes(data) + tail)
    arr = _accepts_or_refuses(decode_file, str(p))
    if arr is not None:
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3


# --------------------------------------------------------------------------------------------
# a finished run directory, damaged by hand or by a disk: load + predict, or one line


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from visionfit.config import RunConfig
    from visionfit.data.synthetic import make_shapes_dataset
    from visionfit.engine.fit import fit

    root = tmp_path_factory.mktemp("fuzzrun")
    data = make_shapes_dataset(root / "data", n_per_class=8, size=24)
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(root / "runs"),
            "data": {"path": str(data), "workers": 0},
            "model": {"name": "simple_cnn"},
            "augment": {"preset": "none", "img_size": 24},
            "train": {"epochs": 1, "batch_size": 8, "patience": None},
        }
    )
    result = fit(cfg, progress=False)
    return result.run_dir, sorted((data / "circle").glob("*.png"))[0]


BUNDLE_FILES = ["model.json", "model.safetensors", "classes.json", "config.yaml", "summary.json"]
json_values = st.one_of(
    yaml_scalar,
    st.lists(st.integers(-3, 10**6), max_size=4),
    st.sampled_from([10**5, 10**9, -1, 0, 3.5, "32", [], {}, None]),
)


def _damage(path, how: str, seed: int, value) -> None:
    import json

    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    if how == "truncate":
        path.write_bytes(bytes(data[: int(rng.integers(0, max(1, len(data))))]))
    elif how == "flip" and data:
        for pos in rng.integers(0, len(data), size=8):
            data[pos] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "edit" and path.suffix == ".json":
        try:
            obj = json.loads(bytes(data))
        except ValueError:
            return
        if isinstance(obj, dict) and obj:
            keys = sorted(obj)
            obj[keys[int(rng.integers(0, len(keys)))]] = value
            path.write_text(json.dumps(obj))


@settings(FUZZ, max_examples=120)
@given(
    name=st.sampled_from(BUNDLE_FILES),
    how=st.sampled_from(["truncate", "flip", "empty", "edit"]),
    seed=st.integers(0, 2**16),
    value=json_values,
)
def test_damaged_run_loads_or_refuses(finished_run, tmp_path_factory, name, how, seed, value):
    import shutil

    import visionfit

    run_dir, image = finished_run
    copy = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints", "plots"))
    _damage(copy / name, how, seed, value)
    model = _accepts_or_refuses(visionfit.load, copy)
    if model is None:
        return
    df = _accepts_or_refuses(model.predict, [str(image)])
    if df is not None:
        assert len(df) == 1


# --------------------------------------------------------------------------------------------
# `visionfit check` on a damaged dataset: exit 0, 1 (not trainable) or 2 (input mistake),
# never a traceback, and nothing in the dataset changes


ENTRIES = ["png", "empty", "text", "truncated", "dangling_link", "fifo", "dir_named_png", "loop"]


def _make_entry(path, kind: str, seed: int) -> None:
    import os

    if kind == "png":
        path.write_bytes(_png_bytes(seed))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image\n")
    elif kind == "truncated":
        path.write_bytes(_png_bytes(seed)[: 40 + seed % 200])
    elif kind == "dangling_link":
        path.symlink_to(path.parent / "nowhere.png")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir_named_png":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path)


def _snapshot(root) -> dict:
    """Every entry under root: its kind and, for a regular file, its bytes."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = ("link", str(p.readlink()))
        elif p.is_file():
            out[str(p)] = ("file", p.read_bytes())
        else:
            out[str(p)] = ("other", None)
    return out


layouts = st.dictionaries(
    st.sampled_from(["cat", "dog", "train", "val", "images", "masks", "runs", ".hidden"]),
    st.lists(st.tuples(st.sampled_from(ENTRIES), st.integers(0, 999)), max_size=5),
    max_size=3,
)


@settings(FUZZ, max_examples=30)
@given(layout=layouts, loose=st.lists(st.sampled_from(ENTRIES), max_size=2))
def test_check_damaged_folder(run_cli, tmp_path_factory, layout, loose):
    root = tmp_path_factory.mktemp("fuzzdata") / "data"
    root.mkdir()
    for folder, entries in layout.items():
        (root / folder).mkdir()
        for i, (kind, seed) in enumerate(entries):
            _make_entry(root / folder / f"f{i}.png", kind, seed)
    for i, kind in enumerate(loose):
        _make_entry(root / f"loose{i}.png", kind, i)
    before = _snapshot(root)
    code, out, err = run_cli(["check", root, "--no-cache"])
    assert code in (0, 1, 2), err
    assert "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    assert _snapshot(root) == before


csv_rows = st.lists(
    st.tuples(
        st.sampled_from(["a.png", "b.png", "fifo.png", "missing.png", "dir.png", "", " a.png"]),
        st.sampled_from(["cat", "dog", "", "cat|dog", "  ", "1", "é"]),
    ),
    max_size=8,
)


@settings(FUZZ, max_examples=30)
@given(rows=csv_rows, sep=st.sampled_from([",", ";", "\t", "|"]), enc=st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "latin-1"]))  # fmt: skip
def test_check_any_csv(run_cli, tmp_path_factory, rows, sep, enc):
    import os

    root = tmp_path_factory.mktemp("fuzzcsv")
    (root / "a.png").write_bytes(_png_bytes(1))
    (root / "b.png").write_bytes(_png_bytes(2))
    os.mkfifo(root / "fifo.png")
    (root / "dir.png").mkdir()
    text = f"image{sep}label\n" + "".join(f"{img}{sep}{lab}\n" for img, lab in rows)
    csv_path = root / "train.csv"
    csv_path.write_bytes(text.encode(enc, "replace"))
    before = _snapshot(root)
    code, out, err = run_cli(["check", "--csv", csv_path, "--root", root, "--no-cache"])
    assert code in (0, 1, 2), err
    assert "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    assert _snapshot(root) == before
