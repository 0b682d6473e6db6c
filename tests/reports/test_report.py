"""report.html for every run kind: every section, every referenced image on disk, offline."""

from __future__ import annotations

import base64
import re

import pytest
from PIL import Image

from visionfit.errors import RunError
from visionfit.reports._run import RunView
from visionfit.reports.compare import write_comparison
from visionfit.reports.html import write_report
from visionfit.reports.registry import builders_for, register

COMMON = ["overview", "data", "timings", "config", "reproduce"]
CLASSIFY = ["samples", "confusion", "roc", "mistakes"]
EXPECTED = {
    "multiclass": COMMON + CLASSIFY + ["metrics", "curves", "augment", "gradcam"],
    "binary": COMMON + CLASSIFY + ["metrics", "curves", "augment", "gradcam", "calibration"],
    "cv": COMMON + CLASSIFY + ["folds", "curves", "augment", "gradcam", "calibration"],
    "baseline": COMMON + CLASSIFY + ["folds"],
    "segment": COMMON
    + ["metrics", "curves", "augment", "seg_scores", "seg_best_worst", "dice_hist"],
    "segment_cv": COMMON
    + ["folds", "curves", "augment", "seg_scores", "seg_best_worst", "dice_hist"],
}


def sections(text: str) -> list[str]:
    return re.findall(r'<section id="([\w-]+)"', text)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_report_has_every_section_and_its_images(kind, tiny_run):
    run_dir = tiny_run(kind)
    out = write_report(run_dir)
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


def test_metrics_table_marks_the_best_epoch(tiny_run):
    run_dir = tiny_run("multiclass")
    best = RunView.open(run_dir).summary["best_epoch"]
    text = write_report(run_dir).read_text()
    (row,) = re.findall(r'<tr class="best"[^>]*>(.*?)</tr>', text)
    assert re.match(rf'<td class="num">{best}</td>', row)


def test_data_section_lists_skipped_files(tiny_run):
    run_dir = tiny_run("baseline")
    text = write_report(run_dir).read_text()
    assert "No file was skipped" in text  # the generated data are clean
    # each class with its count per fold
    for cls in RunView.open(run_dir).classes:
        assert f"<td>{cls}</td>" in text


def test_report_elsewhere_embeds_images_and_never_overwrites(tiny_run, tmp_path):
    out = write_report(tiny_run("binary"), tmp_path / "shared" / "r.html")
    text = out.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RunError, match="not overwriting"):
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


def test_comparison_page_lists_every_run_and_overlays_curves(tiny_run, tmp_path):
    runs_dir = tiny_run("cv").parent
    write_report(tiny_run("cv"))
    out = write_comparison(runs_dir)
    text = out.read_text()
    assert tiny_run("cv").name in text
    assert f'href="{tiny_run("cv").name}/report.html"' in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 2  # scores + curves
    with pytest.raises(RunError, match="not overwriting"):
        write_comparison(runs_dir, out=out)
    with pytest.raises(RunError, match="no finished run named"):
        write_comparison(runs_dir, tmp_path / "c.html", runs=["nope"])
