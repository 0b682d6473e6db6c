"""MkDocs hook: the pages generated from the code, so that no option table is copied by hand.

A page holds a marker and the hook replaces it when the site is built:

- `<!-- visionfit:cli -->`: every command of the Typer app (visionfit/cli/app.py, walked with
  `typer.main.get_command`): its help, usage, arguments and options by panel, each with its
  default and, where `config_option` links the flag to a config field, that field's key;
- `<!-- visionfit:config -->`: every config field (the pydantic models: RunConfig's sections, the
  tasks' own sections, BaselineConfig) with its type, default, description and the flags that set
  it;
- `<!-- visionfit:gallery -->`: every recipe of examples/ with its header, command and file.

The descriptions are the pydantic fields' (the same text `--help` shows): improve them there.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_cli():
    try:
        import visionfit.cli  # noqa: F401
    except ImportError:  # a fresh clone without `pip install -e .`
        sys.path.insert(0, str(ROOT / "src"))
        import visionfit.cli  # noqa: F401
    import typer

    from visionfit.cli.app import app

    return app, typer.main.get_command(app)


def _cell(text: object) -> str:
    """Text for a Markdown table cell: help text is plain text, so `<class>` and `*` must reach
    the page as written (not as an HTML tag or emphasis)."""
    text = " ".join(str(text).split())
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*"), ("|", "\\|")):
        text = text.replace(raw, escaped)
    return text


def _code(text: object) -> str:
    """TEXT as inline code inside a table cell (a pipe escaped, so it does not split the cell)."""
    s = str(text).replace("|", "\\|")
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def _config_keys(app) -> dict[str, dict[str, str]]:
    """command name -> parameter name -> the config key its value goes to."""
    from visionfit.cli.options.base import info_of

    keys: dict[str, dict[str, str]] = {}
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        params = inspect.signature(info.callback).parameters.values()
        found = {p.name: getattr(info_of(p.annotation), "config_key", None) for p in params}
        keys[name] = {k: v for k, v in found.items() if v}
    return keys


def _default(param) -> str:
    shown = getattr(param, "show_default", None)
    if isinstance(shown, str):
        return _code(shown)
    if shown and param.default not in (None, (), []):
        return _code(param.default)
    return ""


def _flags(param) -> str:
    flags = list(param.opts)
    if param.secondary_opts:
        flags = [f"{a}/{b}" for a, b in zip(param.opts, param.secondary_opts, strict=False)]
    return ", ".join(_code(f) for f in flags)


def _command_md(name: str, cmd, keys: dict[str, str]) -> list[str]:
    # typer ships its own copy of click: ask a parameter what it is, not isinstance
    out = [f"## visionfit {name}", ""]
    if cmd.help:
        out += [cmd.help.replace("\b\n", ""), ""]
    ctx = cmd.context_class(cmd, info_name=f"visionfit {name}")
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out += ["```text", f"visionfit {name} {usage}", "```", ""]
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    if args:
        out += ["| argument | meaning |", "| --- | --- |"]
        out += [
            f"| {_code(p.name.upper())} | {_cell(getattr(p, 'help', '') or '')} |" for p in args
        ]
        out.append("")
    panels: dict[str, list] = {}
    for p in cmd.params:
        if p.param_type_name == "option" and not p.hidden:
            panels.setdefault(getattr(p, "rich_help_panel", None) or "Options", []).append(p)
    for panel, params in panels.items():
        out += [f"**{panel}**", "", "| option | default | meaning | config key |"]
        out.append("| --- | --- | --- | --- |")
        for p in params:
            key = keys.get(p.name)
            cells = [_flags(p), _default(p), _cell(p.help or ""), _code(key) if key else ""]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def cli_markdown() -> str:
    app, group = _import_cli()
    keys = _config_keys(app)
    out = [f"Commands: {', '.join(f'[{n}](#visionfit-{n})' for n in group.commands)}.", ""]
    for name, cmd in group.commands.items():
        out += _command_md(name, cmd, keys.get(name, {}))
    return "\n".join(out)


def _flags_by_key(app) -> dict[str, set[str]]:
    """config key -> the flags that set it, over every command."""
    from visionfit.cli.options.base import flags_of, info_of

    flags: dict[str, set[str]] = {}
    for info in app.registered_commands:
        for p in inspect.signature(info.callback).parameters.values():
            key = getattr(info_of(p.annotation), "config_key", None)
            if key:
                flags.setdefault(key, set()).update(flags_of(p.annotation) or [p.name])
    return flags


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("NoneType", "None")


def _model_rows(prefix: str, model, flags) -> list[str]:
    from pydantic import BaseModel

    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((f"{key}.", ann))
            continue
        default = field.get_default(call_default_factory=True)
        by = ", ".join(_code(f) for f in sorted(flags.get(key, ())))
        cells = [
            _code(key),
            _code(_type_name(ann)),
            _code(default),
            _cell(field.description or ""),
            by,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    out = []
    if rows:
        out += [
            "| key | type | default | meaning | flags |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    for sub_prefix, sub in nested:
        out += [f"### `{sub_prefix.rstrip('.')}`", "", *_model_rows(sub_prefix, sub, flags)]
    return out


def config_markdown() -> str:
    app, _ = _import_cli()
    from visionfit.config import BaselineConfig, RunConfig
    from visionfit.config.tasks import section_keys, section_model

    flags = _flags_by_key(app)
    out = ["## RunConfig (`train`, `cv`, `tune`, `auto`, `check`, `lr-find`)", ""]
    out += _model_rows("", RunConfig, flags)
    for key in section_keys():
        out += [
            f"### `{key}` (a task's own section)",
            "",
            *_model_rows(f"{key}.", section_model(key), flags),
        ]
    out += ["## BaselineConfig (`baseline`)", ""]
    out += _model_rows("", BaselineConfig, {})
    return "\n".join(out)


def gallery_markdown() -> str:
    rows = (ROOT / "examples" / "README.md").read_text().splitlines()
    order = [r.split("](")[1].split(")")[0] for r in rows if r.startswith("| [")]
    out = []
    for name in order:
        text = (ROOT / "examples" / name).read_text()
        header = [ln[2:] for ln in text.splitlines() if ln.startswith("# ")]
        command = next((h[len("command: ") :] for h in header if h.startswith("command: ")), "")
        about = [h for h in header if not h.startswith("command: ")]
        out += [f"### `{name}`", "", *(f"{a}  " for a in about), ""]
        out += [
            "```bash",
            command,
            "```",
            "",
            f'```yaml title="examples/{name}"',
            text.rstrip(),
            "```",
            "",
        ]
    return "\n".join(out)


MARKERS = {
    "<!-- visionfit:cli -->": cli_markdown,
    "<!-- visionfit:config -->": config_markdown,
    "<!-- visionfit:gallery -->": gallery_markdown,
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    if "<!-- visionfit:options " in markdown:  # the guides' option tables (docs/hooks/options.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from options import OptionTables

        markdown = OptionTables().fill(markdown)
    return markdown
