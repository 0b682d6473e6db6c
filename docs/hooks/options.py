"""The guides' option tables, generated: flags and defaults from the code, the prose from
docs/options.yaml.

A guide holds a region

    <!-- visionfit:options NAME -->
    ...the generated table...
    <!-- /visionfit:options -->

and NAME is an entry of docs/options.yaml: the command, then rows of `flags` (as the page shows
them, e.g. `--epochs, --batch-size` or `--weights PATH`), an optional `text` (what the one-line
help leaves out; without it the table shows the help) and, only where the code's default is
computed at run time, a `default` saying how. A flag the command does not have is an error, so a
renamed option fails the build. The table is written into the page (so it reads on GitHub too)
by `python docs/hooks/options.py`, the site's hook regenerates it at build time, and
tests/test_doc_examples.py fails when a committed table differs from what this file generates.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOCS = ROOT / "docs"
SPEC = DOCS / "options.yaml"
REGION = re.compile(r"(<!-- visionfit:options (\S+) -->\n)(.*?)(<!-- /visionfit:options -->)", re.S)


def _reference():
    sys.path.insert(0, str(HERE))
    import reference  # docs/hooks/reference.py: the CLI walk and the cell helpers

    return reference


def _field_default(key: str):
    """The config field's default for a dotted key (`train.epochs`, `segment.rle_col`)."""
    from visionfit.config import RunConfig
    from visionfit.config.tasks import section_keys, section_model

    head, _, rest = key.partition(".")
    model = section_model(head) if head in section_keys() else RunConfig
    parts = rest.split(".") if model is not RunConfig else key.split(".")
    for part in parts[:-1]:
        model = model.model_fields[part].annotation
    field = model.model_fields[parts[-1]]
    return field.get_default(call_default_factory=True)


def _shown(value) -> str:
    if value is None or value == "" or value == []:
        return ""
    if value is True:
        return "on"
    if value is False:
        return "off"
    return f"`{value}`"


class OptionTables:
    def __init__(self) -> None:
        self.ref = _reference()
        app, self.group = self.ref._import_cli()
        self.keys = self.ref._config_keys(app)
        self.spec = yaml.safe_load(SPEC.read_text())

    def _param(self, command: str, flag: str):
        cmd = self.group.commands[command]
        for p in cmd.params:
            if flag in (*p.opts, *getattr(p, "secondary_opts", ())):
                return p
        raise SystemExit(f"docs/options.yaml: `visionfit {command}` has no option {flag}")

    def _default(self, command: str, flag: str) -> str:
        p = self._param(command, flag)
        key = self.keys.get(command, {}).get(p.name)
        if key:
            return _shown(_field_default(key))
        if p.is_flag:
            return _shown(bool(p.default))
        return _shown(p.default)

    def table(self, name: str) -> str:
        entry = self.spec[name]
        command = entry["command"]
        lines = ["| option | default | what it does |", "| --- | --- | --- |"]
        for row in entry["rows"]:
            shown = [f.strip() for f in row["flags"].split(",")]
            flags = [s.split()[0].split("/")[0] for s in shown]
            params = [self._param(command, f) for f in flags]
            if "default" in row:
                default = str(row["default"])
            else:
                defaults = [self._default(command, f) for f in flags]
                default = ", ".join(d or "–" for d in defaults) if any(defaults) else ""
            text = row.get("text") or " ".join(
                self.ref._cell(p.help or "") for p in params if p.help
            )
            option = ", ".join(f"`{s}`" for s in shown)
            lines.append(f"| {option} | {default} | {' '.join(str(text).split())} |")
        return "\n".join(lines) + "\n"

    def fill(self, markdown: str) -> str:
        # blank lines around the table: Markdown reads a line right after a comment as HTML
        return REGION.sub(
            lambda m: m.group(1) + "\n" + self.table(m.group(2)) + "\n" + m.group(4), markdown
        )


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "visionfit:options" in p.read_text())


def main() -> None:
    tables = OptionTables()
    for page in pages():
        text = page.read_text()
        new = tables.fill(text)
        if new != text:
            page.write_text(new)
            print(f"wrote the option tables of {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
