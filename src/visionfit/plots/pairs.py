"""Near-duplicate pairs side by side: one row per pair, both images with their label and split."""

from __future__ import annotations

from pathlib import Path

from visionfit.plots.tiles import grid, load_image

_COLOURS = {"leakage": "#c0392b", "conflicting labels": "#d35400", "same class": "#333333"}


def pairs_grid(
    pairs: list[dict], out_dir: Path, name: str, *, limit: int = 24, title: str | None = None
) -> Path | None:
    """The first `limit` pairs (records with PAIR_COLUMNS of data/neardup.py) as a grid PNG,
    two pairs a row; None when there are none."""
    rows: list[list[tuple]] = []
    for p in pairs[:limit]:
        colour = _COLOURS.get(p["kind"], "#333333")
        tiles = [
            (
                load_image(p[f"image_{s}"], max_side=128),
                f"{Path(p[f'image_{s}']).name}\n{p[f'label_{s}']} {p[f'split_{s}']}".strip(),
                colour,
            )
            for s in ("a", "b")
        ]
        tiles[1] = (tiles[1][0], f"{tiles[1][1]}  d={p['distance']}", colour)
        if rows and len(rows[-1]) < 4:
            rows[-1].extend(tiles)
        else:
            rows.append(tiles)
    more = len(pairs) - limit
    if title is None:
        title = "near-duplicate pairs (d = differing pHash bits)"
    if more > 0:
        title += f"; {more} more in the CSV"
    return grid(rows, out_dir, name, title=title, caption_lines=3)
