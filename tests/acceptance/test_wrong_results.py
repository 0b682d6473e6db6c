"""Results that were silently wrong, and check and train that disagreed: the installed CLI on
tiny generated data (1 epoch), as a user runs it.

- `visionfit train .` twice inside the data folder: the first run's runs/ is no class;
- a CSV giving one file two labels: check exits 1, train refuses in one line, and trains with
  --conflicting-labels;
- a diverging run (--lr 1e308): one line, exit 2, no model;
- --seed -1: one line, exit 2.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from visionfit.data.synthetic import make_shapes_dataset


@pytest.fixture(scope="module")
def wrong_jobs(jobs, vf, ws, h):
    """Queue this module's commands (two at a time, beside the tests)."""
    root = ws / "wrong"
    inside = make_shapes_dataset(root / "inside", n_per_class=6, size=32, seed=11)
    two = ("circle", "square")
    src = make_shapes_dataset(root / "conflict-src", n_per_class=6, size=32, classes=two, seed=12)
    images = root / "conflict" / "images"
    images.mkdir(parents=True)
    rows = []
    for i, path in enumerate(sorted(src.glob("*/*.png"))):
        shutil.copy(path, images / f"img{i:02d}.png")
        rows.append((f"img{i:02d}.png", path.parent.name))
    rows.append(("img00.png", "square"))  # img00 is a circle: now it has two labels
    table = root / "conflict" / "train.csv"
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows([("image", "label"), *rows])
    small = make_shapes_dataset(root / "small", n_per_class=6, size=32, seed=13)

    def twice_inside():
        first = vf("train", ".", *h.TINY, cwd=inside).ok()
        return first, vf("train", ".", *h.TINY, cwd=inside)

    csv_args = ("--csv", table, "--root", images)
    jobs.submit("wrong-inside", twice_inside)
    jobs.submit("wrong-conflict-check", lambda: vf("check", *csv_args, cwd=root / "c1"))
    jobs.submit("wrong-conflict-train", lambda: vf("train", *csv_args, *h.TINY, cwd=root / "c2"))
    jobs.submit(
        "wrong-conflict-last",
        lambda: vf("train", *csv_args, *h.TINY, "--conflicting-labels", "last", cwd=root / "c3"),
    )
    jobs.submit("wrong-lr", lambda: vf("train", small, *h.TINY, "--lr", "1e308", cwd=root / "lr"))
    jobs.submit("wrong-seed", lambda: vf("train", small, *h.TINY, "--seed", "-1", cwd=root / "s"))
    return jobs


def test_train_twice_inside_the_data_folder_never_reads_runs_as_a_class(wrong_jobs):
    first, second = wrong_jobs.get("wrong-inside")
    second.ok()
    run = second.run_dir()
    assert run != first.run_dir()
    classes = json.loads((run / "classes.json").read_text())
    assert classes == ["circle", "square", "triangle"]
    assert "runs" not in classes
    assert "skipped runs/" in " ".join(second.out.split())


def test_conflicting_labels_check_exits_1_train_refuses_the_option_decides(wrong_jobs, h):
    check = wrong_jobs.get("wrong-conflict-check")
    assert check.rc == 1, check.tail()
    verdict = " ".join(check.err.split())
    assert "conflicting labels" in verdict and "img00.png" in verdict
    assert "circle" in verdict and "square" in verdict

    line = h.one_line_error(wrong_jobs.get("wrong-conflict-train"))
    assert "img00.png" in line and "--conflicting-labels" in line

    res = wrong_jobs.get("wrong-conflict-last").ok()
    splits = h.read_csv(res.run_dir() / "splits.csv")
    img00 = [r for r in splits if r["image"].endswith("img00.png")]
    assert [r["label"] for r in img00] == ["square"]  # one row, the last label


def test_a_diverging_run_stops_in_one_line_with_no_model(wrong_jobs, h):
    res = wrong_jobs.get("wrong-lr")
    # training had started (its progress and cache lines are printed); the error is one line,
    # the last, with no traceback and no raw warning
    assert res.rc == 2, res.tail()
    text = res.err + res.out
    assert "Traceback" not in text and "Warning" not in text, text
    errors = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and res.err.strip().splitlines()[-1] == errors[0], res.err
    line = errors[0]
    assert "diverged" in line and "epoch 0" in line and "--lr" in line
    assert not list(res.cwd.glob("runs/*/model.safetensors"))
    assert not list(res.cwd.glob("runs/*/summary.json"))


def test_a_negative_seed_is_one_line(wrong_jobs, h):
    line = h.one_line_error(wrong_jobs.get("wrong-seed"))
    assert "seed" in line
