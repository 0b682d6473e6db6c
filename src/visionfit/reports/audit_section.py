"""The report's "Likely label issues" section: the run's latest `visionfit audit` (RUN/audit,
audit-2, ...), when it has one: how many images were flagged, the first rows of
label_issues.csv and its grid."""

from __future__ import annotations

import io
import re

import pandas as pd

from visionfit.plots import html as h
from visionfit.reports.registry import ReportContext, Section, register
from visionfit.runs.files import AUDIT_DIR, ISSUES_CSV, ISSUES_PNG, read_text

SHOWN_ROWS = 10


def latest_audit(run_dir):
    """RUN/audit-N with the largest N (RUN/audit is 1) holding a label_issues.csv, or None."""
    found = []
    for d in run_dir.glob(f"{AUDIT_DIR}*"):
        m = re.fullmatch(rf"{AUDIT_DIR}(?:-(\d+))?", d.name)
        if m and (d / ISSUES_CSV).is_file():
            found.append((int(m.group(1) or 1), d))
    return max(found)[1] if found else None


@register("label_issues", order=58)
def label_issues(ctx: ReportContext) -> Section | None:
    folder = latest_audit(ctx.run.path)
    if folder is None:
        return None
    table = pd.read_csv(io.StringIO(read_text(folder / ISSUES_CSV)), dtype=str).fillna("")
    if "flagged" in table:  # the further candidates (flagged False) are not shown
        table = table[table["flagged"].str.lower() == "true"]
    flagged = table
    shown = flagged.head(SHOWN_ROWS).assign(image=lambda t: t["image"].map(_name))
    columns = [c for c in ("rank", "image", "given", "suggested", "self_confidence") if c in shown]
    if "self_confidence" in shown:  # read as text (the CSV is the user's to edit): a number again
        shown["self_confidence"] = pd.to_numeric(shown["self_confidence"], errors="coerce")
    text = (
        f"visionfit audit ({folder.name}/{ISSUES_CSV}) flagged {len(flagged)} "
        "image(s) whose given label is likely wrong: a model that did not train on them found "
        "another label much more likely (confident learning; segmentation: the worst agreement "
        "with the given mask). A flag is a reason to look, not proof. Hand the edited file back "
        "with train --exclude FILE or --relabel FILE."
    )
    png = folder / ISSUES_PNG
    tag = ctx.img(png if png.is_file() else None, "likely label issues")
    body = h.para(text) + tag + (h.table(shown[columns]) if len(shown) else "")
    return Section("label_issues", "Likely label issues (visionfit audit)", body)


def _name(path: str) -> str:
    parts = str(path).replace("\\", "/").split("/")
    return "/".join(parts[-2:])
