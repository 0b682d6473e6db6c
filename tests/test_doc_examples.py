"""Every shell line of the README and the docs is run by a test, or says why not.

tests/acceptance/examples.yaml maps, per page, each command line of its ```bash blocks to the
test node ids that run it (`by:`) or to the reason none does (`not_run:`). This test parses every
```bash block of README.md and docs/**/*.md and fails when a line is not in the map, when a
mapped test does not exist (the file, and the function it names), or when an entry no longer
appears on its page. The failure message is the YAML to add or remove.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "tests" / "acceptance" / "examples.yaml"
SHELL = {"bash", "sh", "shell", "console"}


def command_lines(markdown: str) -> list[str]:
    """The command lines of the ```bash blocks of MARKDOWN: `\\` continuations joined, a trailing
    ` # comment` and comment-only lines dropped, runs of spaces collapsed."""
    out: list[str] = []
    lang, pending = None, ""
    for raw in markdown.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            lang = (stripped[3:].split() or [""])[0] if lang is None else None
            continue
        if lang not in SHELL:
            continue
        line = f"{pending} {stripped}" if pending else stripped
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        line = "" if line.startswith("#") else re.sub(r"\s+#(\s.*)?$", "", line)
        line = " ".join(line.split())
        if line:
            out.append(line)
    return out


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def load_map() -> dict:
    return yaml.safe_load(MAP.read_text())


@cache
def _functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


def missing_test(node_id: str) -> str | None:
    """Why NODE_ID (tests/x.py or tests/x.py::test_y) names no test, or None."""
    file, _, name = node_id.partition("::")
    path = ROOT / file
    if not path.is_file():
        return f"{node_id}: no file {file}"
    if name and name.split("[")[0] not in _functions(path):
        return f"{node_id}: {file} defines no function {name}"
    return None


def _entry_yaml(page: str, line: str) -> str:
    value = yaml.safe_dump(line, width=10_000).removesuffix("...\n").strip()
    return (
        f"  {page}:\n    - run: {value}\n"
        "      by: [tests/acceptance/test_FILE.py::test_NAME]   # or  not_run: REASON"
    )


def test_every_shell_line_of_the_docs_is_mapped_to_a_test() -> None:
    mapping = load_map()["pages"]
    problems = []
    for path in pages():
        page = str(path.relative_to(ROOT))
        mapped = {e["run"] for e in mapping.get(page) or []}
        for line in dict.fromkeys(command_lines(path.read_text())):
            if line not in mapped:
                problems.append(
                    f"{page}: not in {MAP.name}; add under pages:\n" + _entry_yaml(page, line)
                )
    assert not problems, "\n\n".join(problems)


def test_every_map_entry_is_still_on_its_page_and_says_what_runs_it() -> None:
    problems = []
    for page, entries in load_map()["pages"].items():
        path = ROOT / page
        lines = set(command_lines(path.read_text())) if path.is_file() else set()
        for e in entries or []:
            if e["run"] not in lines:
                problems.append(f"{page}: `{e['run']}` is no longer on the page: remove its entry")
            if bool(e.get("by")) == bool(e.get("not_run")):
                problems.append(f"{page}: `{e['run']}` needs exactly one of by: [...] or not_run:")
    assert not problems, "\n".join(problems)


def test_every_mapped_test_exists() -> None:
    data = load_map()
    ids = [
        i for entries in data["pages"].values() for e in entries or [] for i in e.get("by") or []
    ]
    ids += [i for b in data.get("behaviours") or [] for i in b["by"]]
    problems = [p for p in map(missing_test, ids) if p]
    assert not problems, "\n".join(problems)


def test_command_lines_join_continuations_and_drop_comments() -> None:
    text = "\n".join(
        [
            "text", "```bash", "# a comment", "visionfit train DATA   # trailing",
            "visionfit tune DATA \\", "    --trials 2", "```", "```python", "x = 1", "```",
            "```yaml", "a: 1", "```",
            "```bash", "visionfit check D --colour-map '#ff0000=1'", "```",
        ]
    )  # fmt: skip
    assert command_lines(text) == [
        "visionfit train DATA",
        "visionfit tune DATA --trials 2",
        "visionfit check D --colour-map '#ff0000=1'",
    ]


def test_a_missing_test_is_named() -> None:
    assert missing_test("tests/test_doc_examples.py::test_a_missing_test_is_named") is None
    assert "defines no function" in missing_test("tests/test_doc_examples.py::test_nope")
    assert "no file" in missing_test("tests/acceptance/test_nope.py::test_x")


def test_the_guides_option_tables_are_generated_and_current() -> None:
    """The option tables of the guides are written by docs/hooks/options.py (flags and defaults
    from the code, prose from docs/options.yaml); a page edited by hand, or code whose flags or
    defaults changed, fails here until the generator is run again."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("options", ROOT / "docs/hooks/options.py")
    options = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(options)
    tables = options.OptionTables()
    assert options.pages(), "no page holds a generated option table"
    stale = [p for p in options.pages() if tables.fill(p.read_text()) != p.read_text()]
    assert not stale, f"run `python docs/hooks/options.py`: {[str(p) for p in stale]} are stale"
    hand = [
        p
        for p in (ROOT / "docs").rglob("*.md")
        for block in re.split(
            r"<!-- visionfit:options \S+ -->.*?<!-- /visionfit:options -->",
            p.read_text(),
            flags=re.S,
        )
        if re.search(r"^\| option \|", block, re.M)
    ]
    assert not hand, f"option tables written by hand (use docs/options.yaml): {hand}"
