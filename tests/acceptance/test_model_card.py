"""MODEL_CARD.md in every finished run, and `visionfit export RUN --format hf`: a folder with the
card as README.md, the bundle and a checked ONNX export, that visionfit (and onnxruntime) load."""

from __future__ import annotations

import json
import shutil

from tests.acceptance.conftest import read_csv


def _front_matter(text: str) -> dict:
    head = text.split("---\n")[1]
    out = {}
    for line in head.splitlines():
        if ":" in line and not line.startswith("-"):
            key, value = line.split(":", 1)
            out[key.strip()] = value.strip()
    return out


def test_single_run_has_a_model_card_with_its_data_and_scores(single_run):
    card = (single_run / "MODEL_CARD.md").read_text()
    meta = _front_matter(card)
    assert meta["library_name"] == "visionfit"
    assert meta["pipeline_tag"] == "image-classification"
    splits = read_csv(single_run / "splits.csv")
    n_train = sum(r["split"] == "train" for r in splits)
    # counts per class and split, as splits.csv has them: | circle | train | val | All |
    row = next(line for line in card.splitlines() if line.startswith("| circle |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    for split, cell in zip(("train", "val"), cells[1:3], strict=True):
        assert int(cell) == sum(r["split"] == split and r["label"] == "circle" for r in splits)
    assert f"on {n_train} images" in card
    summary = json.loads((single_run / "summary.json").read_text())
    low = summary["interval"]["low"]
    assert f"[{low:.3f}," in card  # the interval, as the console prints it
    for heading in ("## Uses", "## Training data", "## Evaluation", "### Calibration"):
        assert heading in card
    assert "to fill in" in card  # the intended use is the user's to write
    assert f'visionfit.load("runs/{single_run.name}")' in card  # as train printed the run


def test_export_hf_is_a_loadable_folder_with_the_card_as_readme(single_run, vf, ws, new_images):
    run = ws / "card_run"
    shutil.copytree(single_run, run)  # export writes into the run; keep the shared one as it was
    (run / "MODEL_CARD.md").write_text(
        (run / "MODEL_CARD.md").read_text().replace("Who should use", "Sorting toy shapes. Who")
    )
    res = vf("export", run, "--format", "hf", "--out", ws / "hub", cwd=ws).ok()
    hub = ws / "hub"
    assert "huggingface-cli upload" in res.out
    names = {p.relative_to(hub).as_posix() for p in hub.rglob("*") if p.is_file()}
    assert {"README.md", "model.json", "model.safetensors", "config.yaml"} <= names
    assert {"onnx/model.onnx", "onnx/export.json"} <= names
    readme = (hub / "README.md").read_text()
    assert "Sorting toy shapes." in readme  # the user's edit of the run's card is kept
    assert f"runs/{single_run.name}" not in readme and 'visionfit.load(".")' in readme
    assert "onnx/model.onnx" in readme and "export/onnx" not in readme
    out = ws / "hub_preds.csv"
    pred = vf("predict", ".", new_images / "new_images", "--out", out, cwd=hub).ok()
    assert "wrote" in pred.out and read_csv(out)
    again = vf("export", run, "--format", "hf", "--out", hub, cwd=ws)
    assert again.rc != 0 and "never overwritten" in again.out + again.err


def test_cv_segmentation_and_baseline_runs_have_cards(cv_run, seg_run, baseline_run):
    cv = (cv_run / "MODEL_CARD.md").read_text()
    assert "2-fold cross-validation" in cv and "out-of-fold" in cv
    assert "### Most confused classes" in cv or "No image is misclassified" in cv
    seg = (seg_run / "MODEL_CARD.md").read_text()
    assert "pipeline_tag: image-segmentation" in seg and "## Evaluation" in seg
    base = (baseline_run / "MODEL_CARD.md").read_text()
    assert "pixel baseline" in base and "onnxruntime" not in base  # no network to export
