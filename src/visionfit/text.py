"""Small text helpers shared by reports and the console (no heavy imports)."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """'1 group', '3 groups', '2 extra copies'."""
    if count == 1:
        return f"1 {word}"
    many = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{count} {many}"


def printable(text: str) -> str:
    """File names that are not valid UTF-8 (kept by Python as surrogates) shown with U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def clip(text: object, limit: int = 80) -> str:
    """`str(text)` cut to `limit` characters ("..." marks the cut): a value quoted in a message
    (a config value, a file's content) never floods the console."""
    s = str(text)
    return s if len(s) <= limit else s[: max(0, limit - 3)] + "..."


UNDEFINED = "n/a"


def score_text(value, digits: int = 4) -> str:
    """A score as the console and reports print it; a score undefined on its data (None, NaN:
    AUROC on one class) is "n/a", never 0."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNDEFINED
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)
