"""plots/augment.png: a few training images, each through the run's training transform several
times, so the user sees what the network was shown."""

from __future__ import annotations

from pathlib import Path

from visionfit.plots import figure as _plot
from visionfit.plots.tiles import grid, load_image
from visionfit.reports._run import RunView, train_transform

N_IMAGES = 4
N_DRAWS = 5


def plot_augment(run: RunView, out_dir: Path, seed: int = 0) -> Path | None:
    df = run.train_images()
    if df.empty or "augment" not in run.config:
        return None
    transform = train_transform(run)
    if hasattr(transform, "set_random_seed"):  # albumentations >= 2: reproducible draws
        transform.set_random_seed(seed)
    mean, std = run.meta.get("mean", (0.5,) * 3), run.meta.get("std", (0.5,) * 3)
    in_chans = int(run.meta.get("in_chans", 3))
    step = max(len(df) // N_IMAGES, 1)
    rows = []
    for path in list(df["image"])[::step][:N_IMAGES]:
        img = load_image(path, in_chans, max_side=None)  # the transform sees the original
        if img is None:
            continue
        arr = img if in_chans == 3 else img[..., :1]
        row = [(img, "original")]
        for k in range(N_DRAWS):
            out = transform(image=arr)["image"]
            row.append((_plot.denormalise(out, mean, std), f"draw {k + 1}"))
        rows.append(row)
    aug = run.config["augment"]
    preset, size = str(aug.get("preset", "?")), aug.get("img_size", "?")
    what = f"preset '{preset}'" if "." not in preset else f"'{Path(preset).name}'"
    what += "".join(f" + --{f}" for f in ("vflip", "rot90") if aug.get(f))
    title = f"training augmentation: {what} at {size} px (original, then {N_DRAWS} draws)"
    return grid(rows, out_dir, "augment.png", title=title, caption_lines=1)
