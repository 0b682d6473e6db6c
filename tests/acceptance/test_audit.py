"""README "Finding wrong labels: visionfit audit": a 3-fold CV run on 60 generated images (red or
blue noise, 6 of them filed under the wrong colour), `visionfit audit` on it, then training again
with the edited label_issues.csv handed back (`--exclude`), and the one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import TINY, one_line_error, read_csv

COLOURS = ("red", "blue")
N, N_FLIPPED = 60, 6
COLUMNS = [
    "image",
    "given",
    "suggested",
    "self_confidence",
    "rank",
    "flagged",
    "relabel",
    "exclude",
]


def make_colours(root: Path, seed: int = 0) -> set[str]:
    """root/<colour>/img_<i>.png: noise with a strong red or blue cast; N_FLIPPED files sit in
    the other colour's folder. Returns the flipped files' absolute paths."""
    rng = np.random.default_rng(seed)
    flipped = set(rng.choice(N, N_FLIPPED, replace=False).tolist())
    paths = set()
    for i in range(N):
        true = i % 2
        given = 1 - true if i in flipped else true
        arr = rng.integers(0, 90, (32, 32, 3)).astype(np.uint8)
        arr[..., 0 if true == 0 else 2] += 150
        folder = root / COLOURS[given]
        folder.mkdir(parents=True, exist_ok=True)
        p = folder / f"img_{i:03d}.png"
        Image.fromarray(arr).save(p)
        if i in flipped:
            paths.add(str(p.resolve()))
    return paths


@pytest.fixture(scope="module")
def audited(vf, ws):
    """README: visionfit train DATA --folds 5 ...; visionfit audit RUN   (3 folds, 3 epochs)"""
    cwd = ws / "audit"
    flipped = make_colours(cwd / "data")
    run = (
        vf("train", "data", "--folds", "3", *TINY, "--epochs", "3", cwd=cwd)
        .ok()
        .run_dir("simple_cnn-cv-*")
    )
    res = vf("audit", run, "--top", "8", cwd=cwd).ok()
    return cwd, run, res, flipped


def test_audit_flags_most_flipped_labels(audited):
    cwd, run, res, flipped = audited
    csv_path = run / "audit" / "label_issues.csv"
    rows = read_csv(csv_path)
    assert list(rows[0]) == COLUMNS
    flagged = [r for r in rows if r["flagged"] == "True"]
    hits = [r for r in flagged if r["image"] in flipped]
    assert len(hits) >= N_FLIPPED // 2 + 1, res.out  # most flipped labels flagged
    assert len(hits) >= len(flagged) / 2, res.out  # and most flags are flips
    for r in hits:  # the suggestion is the colour the image really has
        assert r["suggested"] != r["given"] and r["suggested"] in COLOURS
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    conf = [float(r["self_confidence"]) for r in flagged]
    assert conf == sorted(conf)
    assert all(r["relabel"] == "" and r["exclude"] == "" for r in rows)
    assert (run / "audit" / "label_issues.png").stat().st_size > 1000
    assert f"flagged {len(flagged)} of 60 images" in res.out
    assert "out-of-fold" in res.out and str(csv_path.name) in res.out


def test_audit_never_overwrites(audited, vf):
    cwd, run, _, _ = audited
    again = vf("audit", run, "--top", "0", cwd=cwd).ok()
    assert (run / "audit-2" / "label_issues.csv").is_file()
    assert not (run / "audit-2" / "label_issues.png").exists()  # --top 0: no grid
    assert "audit-2" in again.out
    line = one_line_error(vf("audit", run, "--out", run / "audit", cwd=cwd))
    assert "exists" in line


def test_exclude_the_edited_file(audited, vf):
    """README: visionfit train DATA --exclude RUN/audit/label_issues.csv"""
    cwd, run, _, flipped = audited
    rows = read_csv(run / "audit" / "label_issues.csv")
    for r in rows:
        r["exclude"] = "yes" if r["flagged"] == "True" else ""
    edited = cwd / "edited.csv"
    with open(edited, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = vf("train", "data", "--exclude", edited, *TINY, cwd=cwd).ok()
    new = res.run_dir("simple_cnn-2*")
    skipped = read_csv(new / "skipped.csv")
    wanted = {r["image"] for r in rows if r["exclude"] == "yes"}
    assert {r["image"] for r in skipped if r["reason"] == "excluded"} == wanted
    splits = {r["image"] for r in read_csv(new / "splits.csv")}
    assert not splits & wanted and len(splits) == N - len(wanted)


def test_relabel_unknown_class_is_one_line(audited, vf):
    cwd, run, _, _ = audited
    rows = read_csv(run / "audit" / "label_issues.csv")
    bad = cwd / "relabel_bad.csv"
    bad.write_text(f"image,relabel\n{rows[0]['image']},green\n")
    line = one_line_error(vf("train", "data", "--relabel", bad, *TINY, cwd=cwd))
    assert "green" in line and "red" in line


def test_single_run_audits_validation_only(single_run, vf, ws):
    res = vf("audit", single_run, cwd=ws).ok()
    assert "ONLY the validation images were audited" in res.out.replace("\n", " ")
    assert (single_run / "audit" / "label_issues.csv").is_file()


def test_report_shows_the_latest_audit(audited, vf):
    """report.html gains a "Likely label issues" section from the run's latest audit folder: its
    flagged rows, first ones named."""
    cwd, run, _, _ = audited
    out = cwd / "with_audit.html"
    vf("report", run, "--out", out, cwd=cwd).ok()
    page = out.read_text()
    assert "Likely label issues (visionfit audit)" in page
    latest = max(
        (d for d in run.glob("audit*") if (d / "label_issues.csv").is_file()),
        key=lambda d: int(d.name.partition("-")[2] or 1),
    )
    rows = [r for r in read_csv(latest / "label_issues.csv") if r["flagged"] == "True"]
    assert f"flagged {len(rows)} image(s)" in page
    if rows:
        assert Path(rows[0]["image"]).name in page
