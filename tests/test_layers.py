"""The package-level layers: an import (module level or inside a function) may only point down.

The allowed edges are listed once, here, as ranks: a package may import packages of a lower rank;
packages of one rank do not import each other (except the core modules, which share a rank and
form no cycle: tests/test_imports.py). This replaces trusting the module-level cycle test, which
two packages importing each other through different modules pass."""

from __future__ import annotations

import ast
from pathlib import Path

import visionfit

SRC = Path(visionfit.__file__).parent

# higher imports lower; equal ranks are siblings that do not import each other
LAYERS: dict[str, int] = {
    "cli": 10,
    "automl": 9,
    "engine": 8,
    "serve": 7,
    "reports": 6,
    "inference": 5,
    "tasks": 4,
    "runs": 3,
    "data": 2,
    "models": 2,
    "plots": 3,  # figures, tiles, html helpers: below tasks, above the decoder
    "config": 1,
    # core: the helpers everyone uses
    "errors": 0,
    "fileio": 0,
    "text": 0,
    "usercsv": 0,
    "limits": 0,
    "colour_map": 0,
    "pandas_strings": 0,
    "progress": 0,
}
CORE_RANK = 0


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> set[tuple[str, int]]:
    """(top-level part of visionfit, line) for every visionfit import in `path`."""
    out: set[tuple[str, int]] = set()
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = (
                [base] + [f"{base}.{a.name}" for a in node.names] if base == "visionfit" else [base]
            )
        else:
            continue
        for name in names:
            bits = name.split(".")
            if bits[0] == "visionfit" and len(bits) > 1:
                out.add((bits[1], node.lineno))
    return out


def layer_violations() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "__init__.py" or path.name == "__main__.py" and path.parent == SRC:
            continue  # the package's lazy re-exports sit above everything
        part = _part(path)
        if part not in LAYERS:
            bad.append(f"{path.relative_to(SRC)}: package {part!r} has no layer in LAYERS")
            continue
        for target, line in sorted(_imported_parts(path)):
            if target == part or target not in LAYERS and target == "__init__":
                continue
            if target not in LAYERS:
                bad.append(f"{path.relative_to(SRC)}:{line} imports unknown package {target!r}")
                continue
            mine, theirs = LAYERS[part], LAYERS[target]
            if theirs < mine or (mine == theirs == CORE_RANK):
                continue
            bad.append(
                f"{path.relative_to(SRC)}:{line}: {part} (rank {mine}) imports {target} "
                f"(rank {theirs})"
            )
    return bad


def test_imports_point_down_the_layers():
    assert layer_violations() == []


def test_every_package_has_a_layer():
    parts = {_part(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))
