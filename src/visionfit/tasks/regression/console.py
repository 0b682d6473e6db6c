"""What `visionfit train` prints after a regression run (Rich renderables, printed by cli/)."""

from __future__ import annotations

from rich.table import Table

from visionfit.text import score_text


def render_summary(result) -> list:
    """After one run: the bundle's validation (and test) scores on the target's scale. After
    --folds K: nothing of its own (cli/render.py's CV table reads RegressionCVScores)."""
    if hasattr(result, "scores") and hasattr(result.scores, "per_fold"):
        return []
    val = getattr(result, "val_final", None) or {}
    if not val:
        return []
    table = Table(
        title="regression, the bundle's predictions on the target's scale",
        title_justify="left",
    )
    table.add_column("images")
    for key in ("r2", "mae", "rmse"):
        table.add_column(key, justify="right")
    table.add_row("validation", *[_fmt(val.get(k)) for k in ("r2", "mae", "rmse")])
    test = (getattr(result, "test", None) or {}).get("scores") or {}
    if test:
        table.add_row("test (scored once)", *[_fmt(test.get(k)) for k in ("r2", "mae", "rmse")])
    return [
        table,
        f"predictions: {result.run_dir / 'val_predictions.csv'} (image, target, prediction, "
        "residual)",
    ]


def _fmt(v) -> str:
    return score_text(v)


def render_check_section(section: dict) -> list:
    """`visionfit check`'s regression section: the target column's n / mean / std / min / max."""
    table = Table(title=f"target {section.get('target', '')!r}", show_header=False,
                  title_justify="left")  # fmt: skip
    for key in ("n", "mean", "std", "min", "max"):
        if section.get(key) is not None:
            table.add_row(key, _fmt(section[key]) if key != "n" else str(section[key]))
    return [table]
