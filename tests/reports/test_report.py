"""report.html for every run kind: every section, every referenced image on disk, offline."""

from __future__ import annotations

import base64
import re

import pytest
from PIL import Image

from visionfit.config import BaselineConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.engine.baseline import run_baseline
from visionfit.errors import OutputExistsError, RunError
from visionfit.reports._run import RunView
from visionfit.reports.compare import write_comparison
from visionfit.reports.html import write_report
from visionfit.reports.registry import builders_for, register

COMMON = ["overview", "data", "timings", "config", "reproduce"]
CLASSIFY = ["samples", "confusion", "roc", "calibration", "mistakes"]
EXPECTED = {
    "multiclass": COMMON + CLASSIFY + ["metrics", "curves", "augment", "gradcam"],
    "binary": COMMON + CLASSIFY + ["metrics", "curves", "augment", "gradcam"],
    "cv": COMMON + CLASSIFY + ["folds", "curves", "augment", "gradcam"],
    "baseline": COMMON + CLASSIFY + ["folds"],
    "segment": COMMON
    + ["metrics", "curves", "augment", "seg_scores", "seg_best_worst", "dice_hist", "postprocess"],
    "multilabel": COMMON + ["metrics", "curves", "augment"],
    "segment_cv": COMMON
    + ["folds", "curves", "augment", "seg_scores", "seg_best_worst", "dice_hist"],
}


@pytest.fixture(scope="module")
def report(tiny_run):
    """report(kind) -> the run's report.html, written once per module."""
    written: dict = {}

    def get(kind: str):
        if kind not in written:
            written[kind] = write_report(tiny_run(kind))
        return written[kind]

    return get


def sections(text: str) -> list[str]:
    return re.findall(r'<section id="([\w-]+)"', text)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_has_every_section_and_its_images(kind, tiny_run, report):
    run_dir = tiny_run(kind)
    out = report(kind)
    assert out == run_dir / "report.html"
    text = out.read_text()
    assert sorted(sections(text)) == sorted(EXPECTED[kind])
    assert "problems" not in sections(text)  # no plot or section failed
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert srcs and all(s.startswith("plots/") for s in srcs)
    for src in srcs:
        with Image.open(run_dir / src) as im:
            assert im.format == "PNG" and im.width > 200
    assert len(srcs) == len(list((run_dir / "plots").glob("*.png")))
    # offline: no external resource, no script
    assert not re.search(r'(src|href)="(https?:)?//', text) and "<script" not in text
    assert "visionfit " + ("baseline" if kind == "baseline" else "train --config") in text


def test_metrics_table_marks_the_best_epoch(tiny_run, report):
    best = RunView.open(tiny_run("multiclass")).summary["best_epoch"]
    text = report("multiclass").read_text()
    (row,) = re.findall(r'<tr class="best"[^>]*>(.*?)</tr>', text)
    assert re.match(rf'<td class="num">{best}</td>', row)


def test_data_section_counts_classes_per_fold(tiny_run, report):
    text = report("baseline").read_text()
    assert "No file was skipped" in text  # the generated data are clean
    data = text.split('<section id="data">')[1].split("</section>")[0]
    assert "<th>fold 0</th>" in data and "<th>total</th>" in data
    for cls in RunView.open(tiny_run("baseline")).classes:
        assert f"<td>{cls}</td>" in data


def test_data_section_lists_skipped_files(tmp_path):
    data = make_shapes_dataset(tmp_path / "d", n_per_class=6, classes=("circle", "square"))
    (data / "circle" / "broken.png").write_bytes(b"not an image")
    cfg = BaselineConfig.from_dict(
        {"data": {"path": str(data)}, "cv": {"folds": 3}, "n_jobs": 1, "runs_dir": str(tmp_path)}
    )
    text = write_report(run_baseline(cfg, progress=False).run_dir).read_text()
    data_section = text.split('<section id="data">')[1].split("</section>")[0]
    assert "Skipped files (1)" in data_section and "not an image" in data_section
    assert "broken.png" in data_section


def test_report_elsewhere_embeds_images_and_never_overwrites(tiny_run, tmp_path):
    out = write_report(tiny_run("binary"), tmp_path / "shared" / "r.html")
    text = out.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OutputExistsError, match="files are never overwritten"):
        write_report(tiny_run("binary"), out)


def test_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="no summary.json"):
        write_report(tmp_path)


def test_registry_rejects_duplicates_and_filters_by_kind_and_task(tiny_run):
    with pytest.raises(ValueError, match="registered twice"):
        register("overview", order=1)(lambda ctx: None)
    with pytest.raises(ValueError, match="unknown kind"):
        register("x-new", order=1, kinds={"sometimes"})
    seg = {e.id for e in builders_for(RunView.open(tiny_run("segment")))}
    assert "dice_hist" in seg and "confusion" not in seg and "folds" not in seg


def test_comparison_page_lists_every_run_and_overlays_curves(tiny_run, report, tmp_path):
    runs_dir = tiny_run("cv").parent
    report("cv")
    out = write_comparison(runs_dir)
    text = out.read_text()
    assert tiny_run("cv").name in text
    assert f'href="{tiny_run("cv").name}/report.html"' in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 2  # scores + curves
    with pytest.raises(OutputExistsError, match="files are never overwritten"):
        write_comparison(runs_dir, out=out)
    with pytest.raises(RunError, match="no finished run named"):
        write_comparison(runs_dir, tmp_path / "c.html", runs=["nope"])
