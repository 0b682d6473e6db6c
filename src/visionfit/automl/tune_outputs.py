"""What `visionfit tune` writes and reports as the study grows.

`trials.csv` (one row per trial), `best.yaml` (the best trial's full RunConfig), `history.png`
and `importance.png`, each rewritten atomically; and the per-trial summary for `on_trial`.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

from visionfit.config import RunConfig
from visionfit.runs.kind import TUNE_TRIALS
from visionfit.runs.rundir import atomic_write_bytes, atomic_write_csv, atomic_write_text


def trial_info(study, frozen, monitor: str) -> dict:
    import optuna

    try:
        best = study.best_trial
        best_value, best_number = best.value, best.number
    except ValueError:
        best_value, best_number = None, None
    return {
        "number": frozen.number,
        "state": frozen.state.name.lower(),
        "value": frozen.value,
        "params": frozen.params,
        "monitor": monitor,
        "best_value": best_value,
        "best_trial": best_number,
        "seconds": (frozen.duration.total_seconds() if frozen.duration else None),
        "finished": len(
            study.get_trials(
                deepcopy=False,
                states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED),
            )
        ),
    }


def write_tables(study, out_dir: Path, base: RunConfig) -> dict[str, str]:
    files: dict[str, str] = {}
    df = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params"))
    run_dirs = {t.number: t.user_attrs.get("run_dir") for t in study.get_trials(deepcopy=False)}
    df["run_dir"] = df["number"].map(run_dirs)
    if "duration" in df:
        df["seconds"] = df.pop("duration").dt.total_seconds().round(1)
    df = df.rename(columns={c: c.removeprefix("params_") for c in df.columns})
    atomic_write_csv(out_dir / TUNE_TRIALS, df)
    files["trials"] = str(out_dir / TUNE_TRIALS)
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return files
    raw = dict(best.user_attrs.get("config") or {})
    if raw:
        raw["name"] = f"{study.study_name}-best"
        raw["runs_dir"] = base.runs_dir
        cfg = RunConfig.from_dict(raw, origin=f"trial {best.number}'s config")
        header = (
            f"# best trial {best.number} of Optuna study {study.study_name!r}: "
            f"{study.user_attrs.get('monitor')} = {best.value:.6g}\n"
            f"# params: {json.dumps(best.params)}\n"
            "# rerun: visionfit train --config best.yaml\n"
        )
        atomic_write_text(out_dir / "best.yaml", header + cfg.to_yaml())
        files["best"] = str(out_dir / "best.yaml")
    return files


def write_plots(study, out_dir: Path) -> dict[str, str]:
    """Optimisation history and parameter importances (Optuna's matplotlib backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    files: dict[str, str] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return files
    plots = [("history", ovm.plot_optimization_history)]
    varied = {
        k for t in complete for k in t.params if len({str(u.params.get(k)) for u in complete}) > 1
    }
    if len(complete) >= 2 and varied:
        plots.append(("importance", ovm.plot_param_importances))
    for name, plot in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            plt.close(fig)
        except Exception:  # importance needs spread in the scores; a flat study has none
            plt.close("all")
            continue
        atomic_write_bytes(out_dir / f"{name}.png", buf.getvalue())
        files[name] = str(out_dir / f"{name}.png")
    return files
