"""plots/samples.png: a few training images of every class, one row per class."""

from __future__ import annotations

from pathlib import Path

from visionfit.reports._run import RunView
from visionfit.reports._tiles import grid, load_image

PER_CLASS = 6
MAX_CLASSES = 20


def plot_samples(run: RunView, out_dir: Path) -> Path | None:
    df = run.train_images()
    if df.empty or "label" not in df or run.family != "classify" or run.task == "multilabel":
        return None
    in_chans = int(run.meta.get("in_chans", run.config.get("data", {}).get("in_chans", 3)))
    rows, labels = [], []
    for cls in run.classes[:MAX_CLASSES]:
        pick = df[df["label"].astype(str) == cls].head(PER_CLASS)
        if pick.empty:
            continue
        rows.append([(load_image(p, in_chans), Path(p).name[:22]) for p in pick["image"]])
        labels.append(f"{cls}\n({int((df['label'].astype(str) == cls).sum())})")
    more = len(run.classes) - MAX_CLASSES
    title = "training images per class (count)" + (
        f"; {more} more classes not shown" if more > 0 else ""
    )
    return grid(rows, out_dir, "samples.png", row_labels=labels, title=title, caption_lines=1)
