"""README "Near-duplicates and leakage": `visionfit check` names resized, re-compressed copies
planted across train and val (CSV + grid beside --out), `train --group-near-duplicates` keeps
each pair on one side of the split, and a run without it reports `leakage_corrected`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N_COPIES = 6  # per class: train/<c>/<c>_<k>.png resized + re-compressed into val/<c>/


def _textured(rng, size=48) -> Image.Image:
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.BICUBIC)


def _plant(root: Path, *, split: bool) -> list[tuple[str, str]]:
    """24 images per class, 4 more for val, and N_COPIES copies of training images (0.75x,
    JPEG quality 70) in val/ (with `split`) or beside them. Returns (original, copy) names."""
    rng = np.random.default_rng(7)
    planted = []
    for c in ("red", "blue"):
        train = root / "train" / c if split else root / c
        val = root / "val" / c if split else root / c
        train.mkdir(parents=True, exist_ok=True)
        val.mkdir(parents=True, exist_ok=True)
        for k in range(24):
            _textured(rng).save(train / f"{c}_{k}.png")
        for k in range(4):
            _textured(rng).save(val / f"{c}_val_{k}.png")
        for k in range(N_COPIES):
            im = Image.open(train / f"{c}_{k}.png").resize((36, 36), Image.BILINEAR)
            im.save(val / f"{c}_{k}_copy.jpg", quality=70)
            planted.append((f"{c}_{k}.png", f"{c}_{k}_copy.jpg"))
    return planted


@pytest.fixture(scope="module")
def planted(ws):
    root = ws / "data" / "near_split"
    return root, _plant(root, split=True)


@pytest.fixture(scope="module")
def planted_unsplit(ws):
    root = ws / "data" / "near_unsplit"
    return root, _plant(root, split=False)


@pytest.fixture(scope="module")
def near_jobs(jobs, vf, ws, h, planted, planted_unsplit):
    cwd = ws / "near"
    data, _ = planted
    jobs.submit("near-plain", lambda: vf("train", data, *h.TINY, cwd=cwd / "plain"))
    jobs.submit(
        "near-grouped",
        lambda: vf("train", data, *h.TINY, "--group-near-duplicates", cwd=cwd / "grouped"),
    )
    unsplit, _ = planted_unsplit
    jobs.submit(
        "near-grouped-drawn",
        lambda: vf("train", unsplit, *h.TINY, "--group-near-duplicates", cwd=cwd / "drawn"),
    )
    jobs.submit(
        "near-grouped-cv",
        lambda: vf(
            "train", unsplit, *h.TINY, "--folds", "2", "--group-near-duplicates",
            cwd=cwd / "cv",
        ),
    )  # fmt: skip
    return jobs


def _names(rows, *cols):
    return [tuple(Path(r[c]).name for c in cols) for r in rows]


def test_check_names_planted_copies_writes_csv_and_grid(vf, ws, h, planted):
    """README: visionfit check DATA --out check.json (near-duplicates: CSV and grid beside it)"""
    data, pairs = planted
    cwd = ws / "near" / "check"
    res = vf("check", data, "--out", "check.json", cwd=cwd).ok()
    assert "near-duplicate" in res.out and "leakage" in res.out
    report = json.loads((cwd / "check.json").read_text())
    near = report["near_duplicates"]
    assert near["max_distance"] == 8 and near["hash"].startswith("pHash")
    rows = h.read_csv(cwd / "check_near_duplicates.csv")
    assert list(rows[0]) == [
        "image_a", "image_b", "distance", "label_a", "label_b", "split_a", "split_b", "kind"
    ]  # fmt: skip
    found = {frozenset(p) for p in _names(rows, "image_a", "image_b")}
    named = [p for p in pairs if frozenset(p) in found]
    assert len(named) >= 0.8 * len(pairs), (len(named), len(pairs))
    leaks = [r for r in rows if r["kind"] == "leakage"]
    assert near["counts"]["across_splits"] == len(leaks) >= 0.8 * len(pairs)
    assert report["counts"]["near_duplicate_across_splits"] == len(leaks)
    assert all(int(r["distance"]) <= 8 for r in rows)
    png = cwd / "check_near_duplicates.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    # --no-near-duplicates skips the search
    res = vf("check", data, "--no-near-duplicates", "--out", "off.json", cwd=cwd).ok()
    assert json.loads((cwd / "off.json").read_text())["near_duplicates"] == {}
    assert not (cwd / "off_near_duplicates.csv").exists()
    # a stricter distance: fewer pairs, none beyond it
    vf("check", data, "--near-duplicate-distance", "4", "--out", "d4.json", cwd=cwd).ok()
    strict = json.loads((cwd / "d4.json").read_text())["near_duplicates"]
    assert strict["max_distance"] == 4 and strict["counts"]["pairs"] <= near["counts"]["pairs"]
    assert all(p["distance"] <= 4 for p in strict["pairs"])
    # a distance beyond half the hash is refused in one line
    line = h.one_line_error(vf("check", data, "--near-duplicate-distance", "40", cwd=cwd))
    assert "near_duplicate_distance" in line


def test_run_reports_leakage_corrected_score(near_jobs, h, planted):
    """README: visionfit train DATA  (summary.json: leakage_corrected, near_duplicates.csv)"""
    _, pairs = planted
    res = near_jobs.get("near-plain").ok()
    run = res.run_dir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["leaked_val_images"] >= 0.8 * len(pairs)
    assert isinstance(summary["leakage_corrected"], float)
    assert 0.0 <= summary["leakage_corrected"] <= 1.0
    rows = h.read_csv(run / "near_duplicates.csv")
    assert {r["split_a"] for r in rows} == {"val"} and {r["split_b"] for r in rows} == {"train"}
    assert len(rows) == summary["leaked_val_images"]
    assert "without them" in res.out
    assert "leakage_corrected" in (run / "report.html").read_text()


def _pair_sides(run: Path, h, pairs):
    split = {Path(r["image"]).name: r["split"] for r in h.read_csv(run / "splits.csv")}
    return [(split[a], split[b]) for a, b in pairs]


def test_group_near_duplicates_keeps_pairs_on_one_side(near_jobs, h, planted, planted_unsplit):
    """README: visionfit train DATA --group-near-duplicates"""
    for key, (_, pairs) in (("near-grouped", planted), ("near-grouped-drawn", planted_unsplit)):
        run = near_jobs.get(key).ok().run_dir()
        sides = _pair_sides(run, h, pairs)
        assert all(a == b for a, b in sides), sides
        summary = json.loads((run / "summary.json").read_text())
        assert summary["leaked_val_images"] == 0 and "leakage_corrected" not in summary
        assert not (run / "near_duplicates.csv").exists()
    # the given split: the originals of the val copies moved to val, with them
    run = near_jobs.get("near-grouped").run_dir()
    assert {a for a, _ in _pair_sides(run, h, planted[1])} == {"val"}


def test_group_near_duplicates_keeps_pairs_in_one_fold(near_jobs, h, planted_unsplit):
    """README: visionfit train DATA --folds 5 --group-near-duplicates"""
    run = near_jobs.get("near-grouped-cv").ok().run_dir()
    fold = {Path(r["image"]).name: r["fold"] for r in h.read_csv(run / "folds.csv")}
    assert all(fold[a] == fold[b] for a, b in planted_unsplit[1])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["fold_kind"] == "group" and summary["leaked_val_images"] == 0


def test_evaluate_names_copies_of_training_images(near_jobs, vf, ws, h, planted):
    """`visionfit evaluate RUN DATA` on a folder holding re-saved copies of images the run
    trained on: metrics.json has `leaked_images` and `leakage_corrected`, near_duplicates.csv
    names the copies, the console says how many."""
    data, _ = planted
    run = near_jobs.get("near-plain").ok().run_dir()
    trained = {r["image"] for r in h.read_csv(run / "splits.csv") if r["split"] == "train"}
    rng = np.random.default_rng(11)
    new = ws / "data" / "near_eval"
    copies = set()
    for c in ("red", "blue"):
        (new / c).mkdir(parents=True, exist_ok=True)
        originals = sorted(p for p in trained if Path(p).parent.name == c)[:3]
        for p in originals:
            copy = new / c / f"{Path(p).stem}_again.jpg"
            Image.open(p).resize((40, 40), Image.BILINEAR).save(copy, quality=75)
            copies.add(copy.name)
        for k in range(5):
            _textured(rng).save(new / c / f"{c}_new_{k}.png")
    cwd = ws / "near" / "evaluate"
    res = vf("evaluate", run, new, "--out", "ev/", cwd=cwd).ok()
    metrics = json.loads((cwd / "ev" / "metrics.json").read_text())
    found = {Path(r["held_out"]).name for r in h.read_csv(cwd / "ev" / "near_duplicates.csv")}
    assert copies <= found, (copies, found)
    assert metrics["leaked_images"] == len(found)
    assert 0.0 <= metrics["leakage_corrected"] <= 1.0
    assert "near-duplicate to images the run trained on" in " ".join(res.out.split())
