"""Near-duplicates: pHash distances of copies and of unrelated images, the bucketed pair search
against every pair, groups from pairs, and a grouped split that keeps each group on one side."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from visionfit.data.neardup import (
    LEAKAGE,
    hash_values,
    near_duplicate_groups,
    near_pairs,
    pair_table,
    with_near_duplicate_groups,
)
from visionfit.data.scan import perceptual_hash
from visionfit.data.splits import holdout_split

DEFAULT_DISTANCE = 8  # config data.near_duplicate_distance


def textured(rng, size=64) -> np.ndarray:
    """A smooth random colour field: unrelated images differ like photos do."""
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))


def resized_jpeg(arr: np.ndarray, scale: float, quality: int) -> np.ndarray:
    im = Image.fromarray(arr)
    im = im.resize((int(im.width * scale), int(im.height * scale)), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def distance(a: np.ndarray, b: np.ndarray) -> int:
    ha, hb = hash_values([perceptual_hash(a), perceptual_hash(b)])
    return int(np.bitwise_count(ha ^ hb))


def test_resized_recompressed_copies_are_near_unrelated_images_far():
    rng = np.random.default_rng(0)
    images = [textured(rng) for _ in range(12)]
    for arr in images:
        for scale, quality in ((0.75, 80), (0.5, 60)):
            assert distance(arr, resized_jpeg(arr, scale, quality)) <= DEFAULT_DISTANCE
    far = [distance(a, b) for i, a in enumerate(images) for b in images[i + 1 :]]
    assert min(far) > DEFAULT_DISTANCE * 1.5, sorted(far)[:5]


def test_hash_is_64_bits_of_hex_and_grayscale_images_hash():
    rng = np.random.default_rng(1)
    h = perceptual_hash(textured(rng)[..., :1])
    assert len(h) == 16 and int(h, 16) >= 0


@pytest.mark.parametrize(
    "chunk, blocks", [(1 << 22, None), (50, None), (1 << 22, 3), (1 << 22, "exact")]
)
def test_bucketed_pairs_are_every_pair_within_the_distance(chunk, blocks, monkeypatch):
    """Every pair within d bits, once, with its distance (multi-index hashing against brute
    force); `chunk` 50: the candidates compared a few hashes at a time; `blocks` 3: the wide
    blocks and radius a million hashes get."""
    import visionfit.data.neardup as neardup

    monkeypatch.setattr(neardup, "_CANDIDATES_PER_CHUNK", chunk)
    if blocks:  # "exact": d + 1 blocks compared as bucket matrices (in chunks of 7 rows)
        monkeypatch.setattr(neardup, "_ROWS_PER_CHUNK", 7)
        monkeypatch.setattr(
            neardup, "_block_count", lambda h, d: d + 1 if blocks == "exact" else blocks
        )
    rng = np.random.default_rng(2)
    h = rng.integers(0, 2**63, size=3000, dtype=np.uint64)
    flips = rng.integers(0, 64, size=(200, 6))
    for i, bits in enumerate(flips):  # rows 1000.. are copies of rows 0.. with up to 6 flips
        h[1000 + i] = h[i]
        for b in bits[: 1 + i % 6]:
            h[1000 + i] ^= np.uint64(1) << np.uint64(b)
    h[2000:2030] = h[5]  # a crowd of identical hashes: one bucket in every block
    for d in (0, 3, 5, 8, 12) if blocks != 3 else (0, 5, 8):
        found = near_pairs(h, d)
        dist = np.bitwise_count(h[:, None] ^ h[None, :])
        i, j = np.nonzero(np.triu(dist <= d, 1))
        assert set(zip(found["a"], found["b"], strict=True)) == set(zip(i, j, strict=True))
        assert (found["distance"].to_numpy() == dist[found["a"], found["b"]]).all()
        assert not found.duplicated(["a", "b"]).any()


def test_groups_are_connected_components_merged_with_given_groups():
    # 0-1 and 1-2 are near (3 bits each), 3 is far; 4 is far but shares a given group with 3
    base = 0x0123456789ABCDEF
    hashes = [base, base ^ 0b111, base ^ 0b111111, ~base & (2**64 - 1), base ^ (2**64 - 1 - 0xFF)]
    images = [f"i{k}" for k in range(5)]
    phash = {p: f"{h:016x}" for p, h in zip(images, hashes, strict=True)}
    labels = near_duplicate_groups(images, phash, 3)
    assert labels[0] == labels[1] == labels[2]
    assert len({labels[0], labels[3], labels[4]}) == 3
    merged = near_duplicate_groups(images, phash, 3, groups=["a", "b", "c", "p", "p"])
    assert merged[0] == merged[1] == merged[2] and merged[3] == merged[4] != merged[0]


def test_no_near_duplicate_group_straddles_the_split():
    rng = np.random.default_rng(3)
    rows, phash = [], {}
    for k in range(60):
        h = int(rng.integers(0, 2**63))
        label = "ab"[k % 2]
        rows.append((f"img{k}.png", label))
        phash[f"img{k}.png"] = f"{h:016x}"
        if k % 3 == 0:  # a near-duplicate copy (2 bits differ) of every third image
            rows.append((f"img{k}_copy.jpg", label))
            phash[f"img{k}_copy.jpg"] = f"{h ^ 0b101:016x}"
    df = pd.DataFrame(rows, columns=["image", "label"])
    df["target"] = (df["label"] == "b").astype(int)
    df["split"] = ""
    plain = holdout_split(df, 0.3, seed=0)
    straddling = pair_table(plain, phash, DEFAULT_DISTANCE)
    assert (straddling["kind"] == LEAKAGE).any()  # the ungrouped split splits some pairs
    grouped = holdout_split(with_near_duplicate_groups(df, phash, DEFAULT_DISTANCE), 0.3, seed=0)
    pairs = pair_table(grouped, phash, DEFAULT_DISTANCE)
    assert len(pairs) == 20 and not (pairs["kind"] == LEAKAGE).any()
    assert 0.2 < (grouped["split"] == "val").mean() < 0.4


def test_pair_kinds_and_counts():
    from visionfit.data.neardup import pair_counts

    phash = {"a": "0" * 16, "b": "0" * 15 + "1", "c": "f" * 16, "d": "f" * 15 + "e"}
    df = pd.DataFrame(
        {"image": list("abcd"), "label": ["x", "x", "x", "y"], "split": ["train", "val", "", ""]}
    )
    pairs = pair_table(df, phash, 2)
    assert sorted(pairs["kind"]) == ["conflicting labels", LEAKAGE]
    assert pair_counts(pairs) == {
        "pairs": 2,
        "same_class": 1,
        "across_classes": 1,
        "across_splits": 1,
        "images": 4,
    }


def test_a_given_split_keeps_groups_whole_in_their_most_held_out_part():
    from visionfit.data.neardup import keep_groups_together

    df = pd.DataFrame(
        {
            "image": list("abcdef"),
            "split": ["train", "val", "train", "test", "train", ""],
            "group": ["g1", "g1", "g2", "g2", "g3", "g3"],
        }
    )
    out, moved = keep_groups_together(df)
    assert out["split"].tolist() == ["val", "val", "test", "test", "train", "train"]
    assert moved == 3


def test_check_section_pairs_are_records_made_when_read():
    """check's pairs read as the list of dicts they were (JSON-ready: native ints), one at a
    time, sliced or all; the table stays whole for the CSV."""
    import json
    from types import SimpleNamespace

    from visionfit.data.neardup import PAIR_COLUMNS, PairRecords, check_section

    phash = {f"i{k}": f"{k:016x}" for k in range(40)}  # 0..39: many within 2 bits
    df = pd.DataFrame({"image": list(phash), "label": "x", "split": "train"})
    cfg = SimpleNamespace(near_duplicates=True, near_duplicate_distance=2)
    section = check_section(df, phash, cfg, "none")
    pairs = section["pairs"]
    table = pair_table(df, phash, 2)
    assert isinstance(pairs, PairRecords) and len(pairs) == len(table) == section["counts"]["pairs"]
    records = table.to_dict("records")
    assert pairs[0] == records[0] and pairs[-1] == records[-1] and pairs[:3] == records[:3]
    assert list(pairs) == records and pairs == records
    assert list(pairs.table.columns) == PAIR_COLUMNS
    assert json.loads(json.dumps(list(pairs))) == records
