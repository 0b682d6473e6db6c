"""The report's sections: a small registry that each task and run kind adds to.

A section builder takes the report context and returns a `Section` (or None when it has nothing
to show for this run). It is registered for the run kinds (single / cv / baseline) and task
families (classify / segment) it applies to, with an `order` that places it on the page:

>>> @register("dice", order=40, families={"segment"})
... def dice_section(ctx): ...
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from visionfit.reports._run import RunView

KINDS = frozenset({"single", "cv", "baseline"})
FAMILIES = frozenset({"classify", "segment"})


@dataclass
class Section:
    id: str
    title: str
    body: str  # HTML
    images: list[Path] = field(default_factory=list)


@dataclass
class ReportContext:
    """What a section builder works with: the run, where plots go, how images are referenced."""

    run: RunView
    plots_dir: Path
    out_dir: Path  # the folder report.html is written to
    embed: bool  # base64 data URIs (a report written outside the run) or relative paths
    notes: list[str] = field(default_factory=list)

    def img(self, path: Path | None, alt: str) -> str:
        if path is None:
            return ""
        if self.embed:
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            src = f"data:image/png;base64,{data}"
        else:
            src = Path(path).relative_to(self.out_dir).as_posix()
        alt = html.escape(alt)
        return f'<figure><img src="{html.escape(src)}" alt="{alt}" loading="lazy"></figure>'

    def plot(self, fn: Callable, alt: str) -> tuple[str, Path | None]:
        """Run one plot function; a failure becomes a note on the page, not a failed report."""
        try:
            path = fn(self.run, self.plots_dir)
        except Exception as e:  # noqa: BLE001 - one broken plot must not cost the whole report
            self.notes.append(f"{alt}: could not be drawn ({type(e).__name__}: {e})")
            return "", None
        return self.img(path, alt), path


Builder = Callable[[ReportContext], "Section | None"]


@dataclass(frozen=True)
class _Entry:
    id: str
    order: int
    kinds: frozenset
    families: frozenset
    build: Builder


_REGISTRY: dict[str, _Entry] = {}


def register(
    section_id: str,
    *,
    order: int,
    kinds: Iterable[str] = KINDS,
    families: Iterable[str] = FAMILIES,
) -> Callable[[Builder], Builder]:
    kinds, families = frozenset(kinds), frozenset(families)
    if not kinds <= KINDS or not families <= FAMILIES:
        raise ValueError(f"section {section_id!r}: unknown kind or family in {kinds | families}")

    def deco(fn: Builder) -> Builder:
        if section_id in _REGISTRY:
            raise ValueError(f"report section {section_id!r} is registered twice")
        _REGISTRY[section_id] = _Entry(section_id, order, kinds, families, fn)
        return fn

    return deco


def builders_for(run: RunView) -> list[_Entry]:
    """The sections that apply to this run, in page order."""
    found = [e for e in _REGISTRY.values() if run.kind in e.kinds and run.family in e.families]
    return sorted(found, key=lambda e: (e.order, e.id))
