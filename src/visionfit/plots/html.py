"""Small HTML builders: escaped text, tables from DataFrames and dicts."""

from __future__ import annotations

import html
import math

import pandas as pd


def esc(value) -> str:
    return html.escape(str(value))


def fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"  # undefined on its data (AUROC of one class), never 0
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:.0f}"
    return str(value)


def table(
    df: pd.DataFrame, *, mark_row: int | None = None, mark_label: str = "best", max_rows: int = 500
) -> str:
    """A plain table; the row at position `mark_row` gets class "best" and a label."""
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for i, (_, r) in enumerate(df.head(max_rows).iterrows()):
        cls = ' class="best"' if i == mark_row else ""
        cells = "".join(
            f'<td class="num">{esc(fmt(v))}</td>' if _is_num(v) else f"<td>{esc(fmt(v))}</td>"
            for v in r.tolist()
        )
        tag = f' title="{esc(mark_label)}"' if i == mark_row else ""
        rows.append(f"<tr{cls}{tag}>{cells}</tr>")
    more = len(df) - max_rows
    tail = f"<p class='muted'>{more} more rows not shown.</p>" if more > 0 else ""
    body = "".join(rows)
    return (
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>{tail}"
    )


def kv(pairs: dict) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v))}</td></tr>" for k, v in pairs.items())
    return f"<table class='kv'><tbody>{rows}</tbody></table>"


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def para(text: str, cls: str = "") -> str:
    return f"<p{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{esc(text)}</p>"


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
