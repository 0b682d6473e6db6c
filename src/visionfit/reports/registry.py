"""The report's sections: the common ones registered here, and the task's own from its
`report_sections()` hook (tasks/<task>/report.py).

A section builder takes the report context and returns a `Section` (or None when it has nothing
to show for this run). It is registered for the run kinds (single / cv / baseline) it applies to,
with an `order` that places it on the page:

>>> @register("timings", order=90)
... def timings(ctx): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from visionfit.plots.sections import KINDS, Builder, ReportContext, Section, SectionSpec
from visionfit.reports._run import RunView

__all__ = ["KINDS", "ReportContext", "Section", "SectionSpec", "builders_for", "register"]

_REGISTRY: dict[str, SectionSpec] = {}


def register(
    section_id: str, *, order: int, kinds: Iterable[str] = KINDS
) -> Callable[[Builder], Builder]:
    kinds = frozenset(kinds)
    if not kinds <= KINDS:
        raise ValueError(f"section {section_id!r}: unknown kind in {set(kinds)}")

    def deco(fn: Builder) -> Builder:
        if section_id in _REGISTRY:
            raise ValueError(f"report section {section_id!r} is registered twice")
        _REGISTRY[section_id] = SectionSpec(section_id, order, fn, kinds)
        return fn

    return deco


def task_of(run: RunView):
    """The task that trained the run (model.json's task_family, else its label mode), or None
    for a run this version's tasks do not know."""
    from visionfit.errors import RunError
    from visionfit.tasks.registry import task_for_meta

    meta = {"task_family": run.meta.get("task_family"), "task": run.task}
    try:
        return task_for_meta(meta, where=str(run.path))
    except RunError:
        return None


def builders_for(run: RunView) -> list[SectionSpec]:
    """The sections that apply to this run, in page order: the common ones and the task's."""
    task = task_of(run)
    own = list(task.report_sections()) if task is not None else []
    taken = set(_REGISTRY)
    clash = [s.id for s in own if s.id in taken]
    if clash:
        raise ValueError(f"task sections {clash} clash with the report's common sections")
    found = [e for e in [*_REGISTRY.values(), *own] if run.kind in e.kinds]
    return sorted(found, key=lambda e: (e.order, e.id))
