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
