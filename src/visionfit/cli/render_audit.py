"""The console summary of `visionfit audit`: how many flagged of how many, the commonest
(given, suggested) pairs, and where the files went."""

from __future__ import annotations

from visionfit.cli.render import console
from visionfit.text import plural

TOP_PAIRS = 8


def audit_lines(result) -> list[str]:
    f = result.findings
    n = f.flagged
    share = f" ({100 * n / f.audited:.1f} %)" if f.audited else ""
    where = (
        "out-of-fold predictions"
        if f.source == "out-of-fold"
        else "validation predictions: ONLY the validation images were audited"
    )
    lines = [
        f"flagged {n} of {plural(f.audited, 'image')}{share} as likely label issues ({where})",
        f"method: {f.method}",
        *f.notes,
    ]
    if f.pairs:
        lines.append("given -> suggested (count):")
        lines += [f"  {g} -> {s}: {c}" for g, s, c in f.pairs[:TOP_PAIRS]]
        if len(f.pairs) > TOP_PAIRS:
            lines.append(f"  ... {len(f.pairs) - TOP_PAIRS} more pairs")
    if len(f.issues) > n:
        lines.append(
            f"label_issues.csv lists {len(f.issues)} rows: the {n} flagged first, then "
            "further candidates (flagged = False), worst first"
        )
    lines.append(f"wrote {result.csv}")
    if result.grid is not None:
        lines.append(f"wrote {result.grid}")
    lines.append(
        "a flag is a reason to look, not proof: mark rows in the exclude column (or, for "
        "classes, write one in relabel) and train again with --exclude FILE / --relabel FILE"
    )
    return lines


def render_audit(result) -> None:
    for line in audit_lines(result):
        console.print(line, highlight=False, markup=False)
