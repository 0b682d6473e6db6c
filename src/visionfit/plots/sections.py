"""What a report section is and what its builder works with, for reports/ and the tasks alike.

A section builder takes a `ReportContext` and returns a `Section` (or None when it has nothing to
show for this run). The report's common sections are registered in reports/registry.py; a task
lists its own as `SectionSpec`s from its `report_sections()` hook (tasks/<task>/report.py).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = frozenset({"single", "cv", "baseline"})


@dataclass
class Section:
    id: str
    title: str
    body: str  # HTML
    images: list[Path] = field(default_factory=list)


@dataclass
class ReportContext:
    """What a section builder works with: the run (a read-only RunView), where plots go, how
    images are referenced, and how to load the run's predictor (reports/ passes
    `visionfit.load`; a task's report code cannot import the layers above it)."""

    run: Any  # visionfit.reports._run.RunView (duck-typed: tasks sit below reports)
    plots_dir: Path
    out_dir: Path  # the folder report.html is written to
    embed: bool  # base64 data URIs (a report written outside the run) or relative paths
    notes: list[str] = field(default_factory=list)
    load_predictor: Callable[[], Any] | None = None

    def predictor(self):
        """The run's predictor, loaded once per report."""
        if "predictor" not in self.run.cache:
            if self.load_predictor is None:
                raise RuntimeError("this report context cannot load the run's predictor")
            self.run.cache["predictor"] = self.load_predictor()
        return self.run.cache["predictor"]

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

    def plot(self, fn: Callable[[ReportContext], Path | None], alt: str) -> tuple[str, Path | None]:
        """Run one plot function (`fn(ctx)`); a failure becomes a note on the page, not a failed
        report."""
        try:
            path = fn(self)
        except Exception as e:  # noqa: BLE001 - one broken plot must not cost the whole report
            self.notes.append(f"{alt}: could not be drawn ({type(e).__name__}: {e})")
            return "", None
        return self.img(path, alt), path


Builder = Callable[[ReportContext], "Section | None"]


@dataclass(frozen=True)
class SectionSpec:
    """One section: its id, its place on the page (`order`), the run kinds it applies to."""

    id: str
    order: int
    build: Builder
    kinds: frozenset = KINDS

    def __post_init__(self) -> None:
        if not frozenset(self.kinds) <= KINDS:
            raise ValueError(f"section {self.id!r}: unknown run kind in {set(self.kinds)}")
