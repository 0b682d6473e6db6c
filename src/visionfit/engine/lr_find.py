"""The learning-rate finder: Lightning's `Tuner.lr_find` on the run's model, data and policy.

The learning rate grows exponentially from `min_lr` to `max_lr` over `num_training` batches while
the training loss is recorded; the suggestion is the rate where the loss falls fastest. The plot
(`lr_find.png`), the curve (`lr_find.csv`), the suggestion (`lr_find.json`) and the config go into
a new directory `runs/lr_find-<model>-<time>/` (or the plot goes to `out`; nothing is overwritten).

Example:
    >>> cfg = RunConfig.from_dict({"data": {"path": "data/"}, "model": {"name": "resnet18"}})
    >>> res = find_lr(cfg)  # doctest: +SKIP
    >>> res.suggestion, res.plot  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import pandas as pd

from visionfit.config import RunConfig
from visionfit.engine.fit import prepare, split_run
from visionfit.engine.lr_range import range_test
from visionfit.engine.trainer import create_model
from visionfit.errors import VisionfitError
from visionfit.fileio import check_new_path, create_exclusive
from visionfit.runs.files import write_config
from visionfit.runs.rundir import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_text,
    create_run_dir,
)


@dataclass
class LRFindResult:
    suggestion: float | None  # None when the loss curve has no clear descent
    plot: Path
    table: Path
    out_dir: Path
    num_steps: int
    seconds: float


def find_lr(
    cfg: RunConfig,
    out: str | Path | None = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 1.0,
    num_training: int = 100,
    progress: bool = True,
) -> LRFindResult:
    """Run the LR range test for `cfg` (data, model, head, freezing policy, batch size)."""
    if not 0 < min_lr < max_lr:
        raise VisionfitError(f"need 0 < --min-lr < --max-lr, got {min_lr:g} and {max_lr:g}")
    if num_training < 10:
        raise VisionfitError(f"--num-training {num_training} is too few steps; use 10 or more")
    plot_path = Path(out) if out is not None else None
    if plot_path is not None:
        if plot_path.suffix.lower() != ".png":
            raise VisionfitError(f"--out {plot_path} must be a .png file")
        check_new_path(plot_path)  # before the work; the exclusive write below decides
    t0 = time.perf_counter()
    task, cfg, data = prepare(cfg, progress=progress)
    df = split_run(task, cfg, data)  # the test rows stay out of the range test too
    train_df = df[df["split"] == "train"]
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    created = create_model(task, cfg, data)

    if plot_path is None:
        out_dir = create_run_dir(cfg.runs_dir, f"lr_find-{cfg.name or cfg.model.name}")
        plot_path = out_dir / "lr_find.png"
    else:
        out_dir = plot_path.parent
        out_dir.mkdir(parents=True, exist_ok=True)
    stem = plot_path.with_suffix("")

    finder = range_test(
        task, cfg, data, train_df, created, out_dir, (min_lr, max_lr, num_training), progress
    )
    if finder is None or not finder.results.get("lr"):
        raise VisionfitError("the LR finder recorded no steps; is the training set empty?")
    try:
        suggestion = finder.suggestion()
    except Exception:  # too few points for a gradient
        suggestion = None
    curve = pd.DataFrame({"lr": finder.results["lr"], "loss": finder.results["loss"]})
    table_path = stem.with_suffix(".csv")
    atomic_write_csv(table_path, curve)
    if out is not None:  # the user's file: never overwritten, even by a run started meanwhile
        create_exclusive(plot_path, _plot(finder, suggestion))
    else:
        atomic_write_bytes(plot_path, _plot(finder, suggestion))
    atomic_write_text(
        stem.with_suffix(".json"),
        json.dumps(
            {
                "suggestion": suggestion,
                "min_lr": min_lr,
                "max_lr": max_lr,
                "num_training": num_training,
                "steps_recorded": len(curve),
                "model": cfg.model.name,
                "batch_size": cfg.train.batch_size,
                "finetune": cfg.finetune.model_dump(mode="json"),
            },
            indent=2,
        ),
    )
    if out is None:
        write_config(out_dir, cfg)
    return LRFindResult(
        suggestion=suggestion,
        plot=plot_path,
        table=table_path,
        out_dir=out_dir,
        num_steps=len(curve),
        seconds=time.perf_counter() - t0,
    )


def _plot(finder, suggestion: float | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = finder.plot(suggest=suggestion is not None, show=False)
    ax = fig.axes[0]
    title = f"suggested lr {suggestion:.2e}" if suggestion is not None else "no clear suggestion"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
