"""Near-duplicate images: pairs whose perceptual hashes (the scan's 64-bit pHash, imagehash) differ
in at most `max_distance` bits, the groups they form, and the pairs that straddle a split.

The pairs are found by bucketing, not by comparing every image with every other: two 64-bit
hashes within d bits of each other agree exactly on at least one of d + 1 disjoint blocks of their
bits (pigeonhole). Each block's value sorts the hashes into buckets and only hashes sharing a bucket
are compared (one vectorised XOR and popcount per bucket); a pair is kept in the first block it
shares, so it is reported once. On 100,000 random hashes and d = 8 that is 9 blocks of 7-8 bits,
buckets of ~400-800 hashes, and about a second of numpy on one core (see the README).

>>> pairs = near_pairs(np.array([0x0F, 0x0E, 0xF0F0], dtype=np.uint64), 2)
>>> pairs.to_dict("list")  # {'a': [0], 'b': [1], 'distance': [1]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

HASH_BITS = 64
PAIR_COLUMNS = [
    "image_a",
    "image_b",
    "distance",
    "label_a",
    "label_b",
    "split_a",
    "split_b",
    "kind",
]
# what a pair is, first match wins: in two parts of a split, given two labels, or one class's
LEAKAGE, CONFLICT, SAME_CLASS = "leakage", "conflicting labels", "same class"
_ROWS_PER_CHUNK = 2048  # a bucket larger than this is compared in row chunks (memory)


def hash_values(phashes: list[str]) -> np.ndarray:
    """The scan's hex pHashes as uint64 (an empty string, a file scanned without one: 0)."""
    return np.array([int(h, 16) if h else 0 for h in phashes], dtype=np.uint64)


def _blocks(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of max_distance + 1 disjoint blocks covering the 64 bits."""
    m = max_distance + 1
    widths = [HASH_BITS // m + (1 if i < HASH_BITS % m else 0) for i in range(m)]
    out, shift = [], 0
    for w in widths:
        out.append((shift, w))
        shift += w
    return out


def near_pairs(hashes: np.ndarray, max_distance: int) -> pd.DataFrame:
    """Index pairs (a < b) of `hashes` (uint64) at Hamming distance <= `max_distance`, with it."""
    if not 0 <= max_distance < HASH_BITS // 2:
        raise ValueError(f"max_distance must be 0..{HASH_BITS // 2 - 1}, got {max_distance}")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    blocks = _blocks(max_distance)
    keys = [((h >> np.uint64(s)) & np.uint64((1 << w) - 1)) for s, w in blocks]
    found_a, found_b, found_d = [], [], []
    for b, key in enumerate(keys):
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts, ends, strict=True):
            if e - s < 2:
                continue
            a, c, d = _bucket_pairs(h, order[s:e], max_distance)
            if len(a) and b:  # reported already by an earlier block they share
                earlier = np.zeros(len(a), bool)
                for k in keys[:b]:
                    earlier |= k[a] == k[c]
                a, c, d = a[~earlier], c[~earlier], d[~earlier]
            found_a.append(a)
            found_b.append(c)
            found_d.append(d)
    a = np.concatenate(found_a) if found_a else np.zeros(0, np.int64)
    c = np.concatenate(found_b) if found_b else np.zeros(0, np.int64)
    d = np.concatenate(found_d) if found_d else np.zeros(0, np.int64)
    lo, hi = np.minimum(a, c), np.maximum(a, c)
    out = pd.DataFrame({"a": lo, "b": hi, "distance": d.astype(np.int64)})
    return out.sort_values(["distance", "a", "b"], kind="stable").reset_index(drop=True)


def _bucket_pairs(h: np.ndarray, idx: np.ndarray, max_distance: int):
    """Pairs within one bucket (indices into `h`), compared as a matrix in row chunks."""
    members = h[idx]
    out_a, out_b, out_d = [], [], []
    for r0 in range(0, len(idx), _ROWS_PER_CHUNK):
        rows = members[r0 : r0 + _ROWS_PER_CHUNK]
        # only the columns from the chunk's first row on: the pairs below the diagonal are
        # the same pairs (half the work in the large buckets of a million files)
        dist = np.bitwise_count(rows[:, None] ^ members[None, r0:])
        i, j = np.nonzero(dist <= max_distance)
        keep = j > i  # each unordered pair once, never an image with itself
        i, j = i[keep], j[keep]
        out_a.append(idx[i + r0])
        out_b.append(idx[j + r0])
        out_d.append(dist[i, j].astype(np.int64))
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_d)


def pair_table(df: pd.DataFrame, phash: dict[str, str], max_distance: int) -> pd.DataFrame:
    """PAIR_COLUMNS for the rows of `df` (image, label[, split]) whose hashes are within
    `max_distance` bits; `kind`: leakage (two parts of the split), conflicting labels, same
    class. Rows without a hash are left out."""
    if df.empty or "image" not in df.columns:  # nothing usable (every file damaged)
        return pd.DataFrame(columns=PAIR_COLUMNS)
    rows = df[df["image"].map(lambda p: bool(phash.get(p)))].reset_index(drop=True)
    pairs = near_pairs(hash_values([phash[p] for p in rows["image"]]), max_distance)
    split = rows["split"] if "split" in rows.columns else pd.Series([""] * len(rows))
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    out = pd.DataFrame(
        {
            "image_a": rows["image"].to_numpy()[a],
            "image_b": rows["image"].to_numpy()[b],
            "distance": pairs["distance"].to_numpy(),
            "label_a": rows["label"].astype(str).to_numpy()[a],
            "label_b": rows["label"].astype(str).to_numpy()[b],
            "split_a": split.astype(str).to_numpy()[a],
            "split_b": split.astype(str).to_numpy()[b],
        }
    )
    leak = (out["split_a"] != out["split_b"]) & (out["split_a"] != "") & (out["split_b"] != "")
    conflict = out["label_a"] != out["label_b"]
    out["kind"] = np.where(leak, LEAKAGE, np.where(conflict, CONFLICT, SAME_CLASS))
    return out[PAIR_COLUMNS]


def pair_counts(pairs: pd.DataFrame) -> dict[str, int]:
    """Pairs in all, within one class, across classes, across the split (a pair may be both
    across classes and across the split), and the images in any pair."""
    leak = (pairs["split_a"] != pairs["split_b"]) & (pairs["split_a"] != "")
    leak &= pairs["split_b"] != ""
    same = pairs["label_a"] == pairs["label_b"]
    return {
        "pairs": len(pairs),
        "same_class": int(same.sum()),
        "across_classes": int((~same).sum()),
        "across_splits": int(leak.sum()),
        "images": len(set(pairs["image_a"]) | set(pairs["image_b"])),
    }


def near_duplicate_groups(
    images: list[str], phash: dict[str, str], max_distance: int, groups: list | None = None
) -> np.ndarray:
    """A group id per image: the connected components of the near-duplicate pairs, merged with
    the given `groups` (e.g. --group-col's patients: two images of one given group stay
    together, and so does anything near-duplicate to either)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(images)
    has = np.array([bool(phash.get(p)) for p in images])
    where = np.flatnonzero(has)
    pairs = near_pairs(hash_values([phash[images[i]] for i in where]), max_distance)
    a, b = list(where[pairs["a"].to_numpy()]), list(where[pairs["b"].to_numpy()])
    if groups is not None:  # chain the rows of each given group
        first: dict = {}
        for i, g in enumerate(groups):
            j = first.setdefault(g, i)
            if j != i:
                a.append(j)
                b.append(i)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def leaked_images(
    held_out: list[str], training: list[str], phash: dict[str, str], max_distance: int
) -> pd.DataFrame:
    """The pairs (held-out image, training image, distance) within `max_distance` bits: the
    held-out images in it have a near-duplicate the model trained on."""
    images = list(held_out) + list(training)
    df = pd.DataFrame(
        {
            "image": images,
            "label": "",
            "split": ["held_out"] * len(held_out) + ["train"] * len(training),
        }
    )
    pairs = pair_table(df, phash, max_distance)
    pairs = pairs[pairs["kind"] == LEAKAGE]
    swap = pairs["split_a"] == "train"
    out = pd.DataFrame(
        {
            "held_out": np.where(swap, pairs["image_b"], pairs["image_a"]),
            "train": np.where(swap, pairs["image_a"], pairs["image_b"]),
            "distance": pairs["distance"].to_numpy(),
        }
    )
    return out.reset_index(drop=True)


def with_near_duplicate_groups(
    df: pd.DataFrame, phash: dict[str, str], max_distance: int
) -> pd.DataFrame:
    """A copy of `df` whose `group` column makes each near-duplicate group one group (merged
    with the groups it had), so that the split and the folds keep each group on one side."""
    given = df["group"].tolist() if "group" in df.columns else None
    labels = near_duplicate_groups(list(df["image"]), phash, max_distance, given)
    out = df.copy()
    out["group"] = [f"g{k}" for k in labels]
    if "split" in out.columns and (out["split"] != "").any():
        out, _ = keep_groups_together(out)
    return out


_HELD_OUT_RANK = {"": 0, "train": 1, "val": 2, "test": 3}


def keep_groups_together(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A split the data gives (folders, a split column) is kept, so a group it splits moves
    whole to its most held-out part (test, then val, then train): the held-out images stay
    held out and training loses their copies. Returns the table and how many rows moved."""
    rank = df["split"].map(_HELD_OUT_RANK).fillna(0).astype(int)
    top = rank.groupby(df["group"]).transform("max")
    moved = (rank != top) & (top > 0)
    out = df.copy()
    names = {v: k for k, v in _HELD_OUT_RANK.items()}
    out.loc[moved, "split"] = top[moved].map(names)
    return out, int(moved.sum())


def check_section(df: pd.DataFrame, phash: dict[str, str], cfg, split: str) -> dict:
    """check's JSON part for the usable rows `df` (with the split `split` names, or none): what
    the distance means, the counts, every pair; {} with --no-near-duplicates (`cfg`: the data
    section)."""
    if not cfg.near_duplicates:
        return {}
    df = df if "split" in df.columns else df.assign(split="")
    pairs = pair_table(df, phash, cfg.near_duplicate_distance)
    return {
        "hash": "pHash, 64 bits (imagehash)",
        "max_distance": cfg.near_duplicate_distance,
        "split": split,
        "counts": pair_counts(pairs),
        "pairs": PairRecords(pairs),
    }


class PairRecords(Sequence):
    """check's pairs as records (dicts of PAIR_COLUMNS), each made when it is read. Small
    look-alike images can make millions of pairs (Fashion-MNIST's 60,000 at 8 bits: 2 million):
    as dicts that was 25 s and a gigabyte that `auto`'s check never read. `table` holds them
    all for the CSV; `list(records)` (the JSON report) makes every dict."""

    def __init__(self, table: pd.DataFrame):
        self.table = table.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.table.iloc[i].to_dict("records")
        return self.table.iloc[[i]].to_dict("records")[0]

    def __iter__(self):
        for start in range(0, len(self.table), 10_000):  # a chunk of dicts at a time
            yield from self.table.iloc[start : start + 10_000].to_dict("records")

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"PairRecords({len(self)} pairs)"


def near_warnings(near: dict) -> list[str]:
    """check's notes about the pairs of `check_section`."""
    c = near.get("counts") or {}
    if not c.get("pairs"):
        return []
    notes = [
        f"{c['pairs']} near-duplicate pair(s) (pHash within {near['max_distance']} bits): "
        f"{c['same_class']} within a class, {c['across_classes']} across classes"
    ]
    if c["across_splits"]:
        notes.append(
            f"{c['across_splits']} near-duplicate pair(s) across train / val / test (leakage): "
            "--group-near-duplicates keeps each group on one side"
        )
    return notes
