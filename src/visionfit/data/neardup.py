"""Near-duplicate images: pairs whose perceptual hashes (the scan's 64-bit pHash, imagehash) differ
in at most `max_distance` bits, the groups they form, and the pairs that straddle a split.

The pairs are found by multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming
Space with Multi-Index Hashing", CVPR 2012), not by comparing every image with every other: two
64-bit hashes within d bits of each other differ in at most d // m bits in at least one of m
disjoint blocks of their bits (pigeonhole). Each block's value sorts the hashes into buckets and
a hash is compared only with the buckets whose keys are within d // m bits of its own. The
number of blocks is chosen from the hashes (`_block_count`, counting the buckets' sizes):
- m = d + 1 (radius 0: a pair shares a whole block) compares each crowded bucket as a matrix,
  cheapest where look-alike images crowd a few buckets (Fashion-MNIST's 60,000 28 px images at
  d = 8: 2 million pairs, 7 s);
- fewer, wider blocks with a radius (a million random hashes at d = 8: 3 blocks of 21-22 bits,
  232 flips each, 49 s) keep the work near linear in the files, where 9 blocks of 7 bits
  compared each hash with n / 128 others (minutes at a million, hours at ten million).

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


def hash_values(phashes: list[str]) -> np.ndarray:
    """The scan's hex pHashes as uint64 (an empty string, a file scanned without one: 0)."""
    return np.array([int(h, 16) if h else 0 for h in phashes], dtype=np.uint64)


def _blocks(count: int) -> list[tuple[int, int]]:
    """(shift, width) of `count` disjoint blocks covering the 64 bits."""
    widths = [HASH_BITS // count + (1 if i < HASH_BITS % count else 0) for i in range(count)]
    out, shift = [], 0
    for w in widths:
        out.append((shift, w))
        shift += w
    return out


def _flips(width: int, radius: int) -> list[int]:
    """Every `width`-bit mask with at most `radius` bits set (0 first)."""
    from itertools import combinations

    return [
        sum(1 << b for b in bits)
        for k in range(radius + 1)
        for bits in combinations(range(width), k)
    ]


def _block_count(h: np.ndarray, max_distance: int) -> int:
    """The number of blocks m (3 .. d + 1: blocks of at most 22 bits, each block's keys a table
    of 2**w buckets) with the least estimated work on these hashes: per block, `flips` passes of
    a few operations per hash plus the pairs each compares, about the sum of its buckets'
    squared sizes (counted, so that look-alike images crowding a few buckets are priced in).
    Random hashes, d = 8: 5 blocks at 10,000, 3 at a million."""
    from math import comb

    n = len(h)

    def work(m: int) -> float:
        total = 0.0
        for shift, width in _blocks(m):
            flips = sum(comb(width, k) for k in range(max_distance // m + 1))
            counts = np.bincount(_block_keys(h, shift, width), minlength=1 << width)
            per_pair = 1 if m == max_distance + 1 else 3  # exact blocks: bucket matrices
            total += flips * (10 * n + per_pair * float(np.dot(counts, counts)))
        return total

    return min(range(3, max(3, max_distance + 1) + 1), key=work)


def _block_keys(h: np.ndarray, shift: int, width: int) -> np.ndarray:
    return ((h >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)


def near_pairs(hashes: np.ndarray, max_distance: int) -> pd.DataFrame:
    """Index pairs (a < b) of `hashes` (uint64) at Hamming distance <= `max_distance`, with it."""
    if not 0 <= max_distance < HASH_BITS // 2:
        raise ValueError(f"max_distance must be 0..{HASH_BITS // 2 - 1}, got {max_distance}")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(h)
    m = _block_count(h, max_distance) if n > 1 else 3
    if m == max_distance + 1:  # radius 0: hashes in one bucket of a block, compared at once
        return _exact_block_pairs(h, max_distance)
    radius = max_distance // m  # a pair within d bits is within this in some block
    found: list[np.ndarray] = []
    for shift, width in _blocks(m) if n > 1 else []:
        key = _block_keys(h, shift, width)
        counts = np.bincount(key, minlength=1 << width)
        starts = np.cumsum(counts) - counts
        order = np.argsort(key, kind="stable")
        for flip in _flips(width, radius):
            found.append(_probe_pairs(h, key ^ flip, counts, starts, order, max_distance))
    pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    a, b = pairs // max(n, 1), pairs % max(n, 1)
    d = np.bitwise_count(h[a] ^ h[b]).astype(np.int64)
    out = pd.DataFrame({"a": a, "b": b, "distance": d})
    return out.sort_values(["distance", "a", "b"], kind="stable").reset_index(drop=True)


def _exact_block_pairs(h: np.ndarray, max_distance: int) -> pd.DataFrame:
    """near_pairs with d + 1 blocks (radius 0): each block's buckets compared as matrices; a
    pair is kept in the first block it shares, so it is reported once. Cheapest where a few
    look-alike images crowd the buckets (Fashion-MNIST's 28 px images: 2 million pairs)."""
    blocks = _blocks(max_distance + 1)
    keys = [_block_keys(h, s, w) for s, w in blocks]
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


_ROWS_PER_CHUNK = 2048  # a bucket larger than this is compared in row chunks (memory)


def _bucket_pairs(h: np.ndarray, idx: np.ndarray, max_distance: int):
    """Pairs within one bucket (indices into `h`), compared as a matrix in row chunks."""
    members = h[idx]
    out_a, out_b, out_d = [], [], []
    for r0 in range(0, len(idx), _ROWS_PER_CHUNK):
        rows = members[r0 : r0 + _ROWS_PER_CHUNK]
        # only the columns from the chunk's first row on: the pairs below the diagonal are
        # the same pairs
        dist = np.bitwise_count(rows[:, None] ^ members[None, r0:])
        i, j = np.nonzero(dist <= max_distance)
        keep = j > i  # each unordered pair once, never an image with itself
        i, j = i[keep], j[keep]
        out_a.append(idx[i + r0])
        out_b.append(idx[j + r0])
        out_d.append(dist[i, j].astype(np.int64))
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_d)


_CANDIDATES_PER_CHUNK = 1 << 22  # pairs compared at once (memory: a few arrays of this many)


def _probe_pairs(h, probe, counts, starts, order, max_distance: int) -> np.ndarray:
    """Pairs (as a * n + b, a < b) of each hash with the hashes in the bucket its `probe` key
    names, within `max_distance` bits; a chunk of hashes at a time, so that look-alike images
    crowding a few buckets cannot make one giant array."""
    n = len(h)
    per = counts[probe]
    hit = np.flatnonzero(per)  # hashes whose probe names a bucket with anything in it
    per = per[hit]
    ends = np.cumsum(per)
    if not len(ends):
        return np.zeros(0, np.int64)
    cuts = np.searchsorted(ends, np.arange(_CANDIDATES_PER_CHUNK, ends[-1], _CANDIDATES_PER_CHUNK))
    out = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(hit)], strict=True):
        if hi <= lo:
            continue
        p, rows = per[lo:hi], hit[lo:hi]
        a = np.repeat(rows, p)
        offsets = np.arange(len(a)) - np.repeat(np.cumsum(p) - p, p)
        b = order[np.repeat(starts[probe[rows]], p) + offsets]
        keep = a < b  # each unordered pair once (the other finds it too), never a hash itself
        a, b = a[keep], b[keep]
        keep = np.bitwise_count(h[a] ^ h[b]) <= max_distance
        out.append(a[keep] * n + b[keep])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


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
