"""Classification data as Hugging Face `datasets` writes it (docs/formats/tables.md): a 2-class
Dataset with an Image feature and a ClassLabel, written with `to_parquet` (the Hub's
data/train-00000-of-00001.parquet layout) and as a DatasetDict with `save_to_disk`; check both,
train on the saved one, evaluate and predict on its test split."""

from __future__ import annotations

import json

import pytest

from visionfit.data.synthetic import make_shapes_dataset

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def table_jobs(jobs, vf, ws, h):
    """Write the two copies of the data with `datasets` and queue this module's commands."""
    from PIL import Image

    root = ws / "tables"
    src = make_shapes_dataset(root / "src", 12, classes=("circle", "square"), size=32, seed=31)
    names = ["square", "circle"]  # ClassLabel order, not sorted: the run must keep it
    files = sorted(src.glob("*/*.png"))

    def load(p):
        with Image.open(p) as im:
            return im.convert("RGB")

    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}
    )

    def part(picked, extra=()):
        images = [load(p) for p in picked] + [None for _ in extra]  # a row without an image
        labels = [names.index(p.parent.name) for p in picked] + list(extra)
        return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)

    train = part(files[0::3] + files[1::3], extra=(0,))
    test = part(files[2::3])
    hub = root / "hub"
    train.to_parquet(str(hub / "data" / "train-00000-of-00001.parquet"))
    test.to_parquet(str(hub / "data" / "test-00000-of-00001.parquet"))
    saved = root / "saved"
    datasets.DatasetDict(train=train, test=test).save_to_disk(str(saved))

    submit = jobs.submit
    submit("tables-check-parquet", lambda: vf("check", hub, "--out", "p.json", cwd=root / "cp"))
    submit("tables-check-hf", lambda: vf("check", saved, "--out", "h.json", cwd=root / "ch"))
    submit("tables-train", lambda: vf("train", saved, *h.TINY, cwd=root / "r"))
    return root, saved, jobs


def test_check_reads_parquet_and_saved_datasets(table_jobs):
    """docs: visionfit check hub/   and   visionfit check saved/"""
    root, _, jobs = table_jobs
    for key, out in (("tables-check-parquet", "cp/p.json"), ("tables-check-hf", "ch/h.json")):
        res = jobs.get(key).ok()
        assert "data usable: 24 images in 2 classes" in res.out
        report = json.loads((root / out).read_text())
        assert report["layout"] == ("parquet" if "parquet" in key else "hf")
        assert report["class_counts_by_split"] == {
            "train": {"square": 8, "circle": 8},
            "test": {"square": 4, "circle": 4},
        }
        assert report["counts"]["table_rows_left_out"] == 1
        assert report["bad_files"][0]["reason"] == "no image"
        assert "table row left out" in res.out


def test_train_evaluate_predict_on_a_saved_dataset_dict(table_jobs, vf, h):
    """docs: visionfit train saved/ --model simple_cnn --img-size 32 --epochs 1;
    visionfit evaluate RUN saved/test; visionfit predict RUN saved/test --out predictions.csv"""
    root, saved, jobs = table_jobs
    run = jobs.get("tables-train").ok().run_dir()
    assert json.loads((run / "classes.json").read_text()) == ["square", "circle"]
    splits = h.read_csv(run / "splits.csv")
    assert {r["split"] for r in splits} == {"train", "val", "test"}
    assert sum(r["split"] == "test" for r in splits) == 8  # the DatasetDict's test split
    assert all(str(root) not in r["image"] for r in splits)  # stored outside the dataset
    skipped = h.read_csv(run / "skipped.csv")
    assert [(r["image"], r["reason"]) for r in skipped] == [
        ("train/data-00000-of-00001.arrow#16", "no image")
    ]
    ev = vf("evaluate", run, saved / "test", cwd=root / "e").ok()
    metrics = json.loads((run / "evaluate" / "metrics.json").read_text())
    assert "8 of" in ev.out and metrics["n_images"] == 8
    res = vf("predict", run, saved / "test", "--out", "predictions.csv", cwd=root / "p").ok()
    preds = h.read_csv(root / "p" / "predictions.csv")
    assert len(preds) == 8 and set(preds[0]) == {"image", "pred", "prob_square", "prob_circle"}
    assert {r["image"] for r in preds} == {r["image"] for r in splits if r["split"] == "test"}
    assert "wrote 8 predictions" in res.out


def test_a_table_without_a_label_column_is_one_line(table_jobs, vf, ws, h):
    """docs: visionfit train saved/ --label-col kind"""
    root, saved, _ = table_jobs
    res = vf("train", saved, "--label-col", "kind", cwd=root / "x")
    assert res.rc != 0
    line = h.one_line_error(res)
    assert "no label column 'kind'; its columns: image, label" in line
