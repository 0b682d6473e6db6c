"""The task boundary: no comparison with a task's or label mode's name outside tasks/.

The same check as the shape tool's (`== 'x'`, `!= 'x'`, `in ('x', ...)`, `'x' ==`), read from the
source, nothing imported. A new task is one package under tasks/ and one registry line; a branch
on a task's name elsewhere is where a third task would have to change code it does not own.
"""

from __future__ import annotations

import re
from pathlib import Path

import visionfit

NAMES = (
    "segment|classify|segmentation|classification|regress|regression|"
    "binary|multiclass|multilabel|soft"
)
BRANCH = (
    re.compile(rf"""(==|!=|\bin\b)\s*[\(\[\{{]?\s*["']({NAMES})["']"""),
    re.compile(rf"""["']({NAMES})["']\s*(==|!=)"""),
)
# Files other changes of issue 16 are still moving into their tasks (reports, serve, predict
# output, the demo command, the CSV label reader). Shrink this set; never grow it.
PENDING = {
    "cli/predict.py",
    "reports/_run.py",
    "reports/calibration.py",
    "reports/predictions.py",
    "reports/roc.py",
    "reports/samples.py",
    "reports/sections_common.py",
    "reports/segmentation.py",
    "serve/_service.py",
    "serve/page.py",
}

PKG = Path(visionfit.__file__).parent


def _branches() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith("tasks/"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if any(r.search(line) for r in BRANCH):
                found.setdefault(rel, []).append(n)
    return found


def test_no_task_name_branches_outside_tasks():
    found = _branches()
    new = {f: lines for f, lines in found.items() if f not in PENDING}
    assert not new, f"task-name comparisons outside tasks/ (ask the task instead): {new}"


def test_the_engine_and_config_know_no_task_names():
    found = _branches()
    owned = [f for f in found if f.startswith(("engine/", "automl/", "runs/", "inference/"))]
    assert not owned and not any(f.startswith("config/") for f in found), found


def test_the_check_sees_a_branch():
    line = 'if "segment" == task or mode in ("multilabel", "soft"):'
    assert all(r.search(line) for r in BRANCH)
    assert not any(r.search("task_for_name(cfg.data.task).names[0] == name") for r in BRANCH)


def test_every_name_is_answered_by_one_task():
    from visionfit.tasks.registry import list_tasks, task_for_name, task_names

    names = task_names()
    assert len(names) == len(set(names))
    assert {task_for_name(n).name for n in names} == set(list_tasks())
    assert task_for_name("segment").name == "segmentation"
    assert task_for_name("binary").name == task_for_name("classify").name == "classification"


def _imports(rel: str) -> set[str]:
    import ast

    out = set()
    for path in (PKG / rel).rglob("*.py") if (PKG / rel).is_dir() else [PKG / rel]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
    return out


def test_lower_layers_do_not_import_upper_ones():
    """The cycles issue 16 named: config -> data, runs -> tasks, inference -> engine."""
    for lower, upper in (
        ("config", "visionfit.data"),
        ("runs", "visionfit.tasks"),
        ("inference", "visionfit.engine"),
        ("reports", "visionfit.engine"),
    ):
        bad = sorted(m for m in _imports(lower) if m == upper or m.startswith(upper + "."))
        assert not bad, f"{lower} imports {bad}"
