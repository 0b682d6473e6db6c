"""With its output going to a file (no terminal), long work says how far it is: `--progress 0`
prints a line on every update (the default, 30 s, is the same mechanism on a real clock)."""

from __future__ import annotations

import re

from visionfit.data.synthetic import make_shapes_dataset


def test_train_and_predict_print_progress_lines_into_a_log(vf, ws):
    # images of its own: the shared fixtures' scan and decoded caches are warm after other tests,
    # and a warm cache has nothing to scan or decode, so prints no such line
    shapes = make_shapes_dataset(ws / "progress_data", n_per_class=10, seed=20)
    log = vf(
        "train", shapes, "--model", "simple_cnn", "--img-size", "16", "--epochs", "2",
        "--progress", "0", cwd=ws / "progress_log",
    ).ok()  # fmt: skip
    text = log.out + log.err
    assert re.search(r"^scanning images: \d+/\d+ files \(\d+ %\)", text, re.M)
    assert re.search(r"^decoding into the cache: \d+/\d+ images", text, re.M)
    assert re.search(r"^epoch 1/2: \d+/\d+ batches \(\d+ %\), [\d.]+ batches/s", text, re.M)
    epoch = re.search(r"^epoch 1/2 done in .*: train_loss [\d.]+, val_loss [\d.]+.*$", text, re.M)
    assert epoch and "left for 1 more epoch" in epoch.group(0)
    assert re.search(r"^epoch 2/2 done in", text, re.M)
    run = log.run_dir()
    pred = vf("predict", run, shapes, "--out", ws / "progress.csv", "--progress", "0", cwd=ws)
    assert re.search(r"^predicting: \d+/\d+ images", pred.ok().err + pred.out, re.M)
    # a line at most every --progress seconds: within the hour this scan takes, none
    quiet = vf("check", shapes, "--progress", "3600", cwd=ws / "progress_log")
    assert "scanning images:" not in quiet.ok().out + quiet.err
