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


def shorten(text: object, limit: int = 80) -> str:
    """`repr`-like text cut to `limit` characters, so that a huge value in a user's input never
    turns an error message into megabytes."""
    s = text if isinstance(text, str) else repr(text)
    return s if len(s) <= limit else f"{s[: limit - 15]}... ({len(s):,} chars)"
