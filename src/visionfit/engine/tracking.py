"""Experiment tracking: MLflow or TensorBoard through Lightning's loggers, besides metrics.csv.

Every run writes its own `metrics.csv` whatever the logger (`csv`, the default, adds nothing).
`mlflow` logs the resolved config as parameters, the epoch metrics and learning rates, and at the
end the run's files (bundle, config, metrics, summary, plots) as artifacts. `tensorboard` writes
event files into the run's `tensorboard/` folder.

MLflow 3 refuses its old file store (`./mlruns` as a folder of YAML files) unless
`MLFLOW_ALLOW_FILE_STORE` is set, so a local store here is a folder holding an SQLite database and
the artifacts: `mlruns/mlflow.db` and `mlruns/artifacts/`. Browse it with
`mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from visionfit.config import RunConfig
from visionfit.errors import VisionfitError
from visionfit.runs import files as run_files

DEFAULT_MLFLOW_DIR = "mlruns"
# files of a run directory logged as MLflow artifacts (checkpoints are left out: the bundle is the
# model; they can be large)
_ARTIFACT_GLOBS = (*run_files.ARTIFACTS, "*.png", "*.html")


def resolve_mlflow_uri(uri: str | None) -> tuple[str, str | None]:
    """(tracking URI, artifact location for a new experiment or None).

    None means `$MLFLOW_TRACKING_URI`, else a local store in `./mlruns`. A plain folder path is a
    local store in that folder (an SQLite database plus an artifacts folder).
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_MLFLOW_DIR
    scheme = urlsplit(uri).scheme
    if scheme and len(scheme) > 1:  # "C:" is a Windows drive, not a scheme
        return uri, None
    folder = Path(uri).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def create_logger(cfg: RunConfig, out_dir: Path):
    """The Lightning logger for `cfg.tracking.logger`, or None for `csv` (metrics.csv only)."""
    kind = cfg.tracking.logger
    if kind == "csv":
        return None
    params = cfg.model_dump(mode="json")
    if kind == "tensorboard":
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            logger = TensorBoardLogger(
                save_dir=str(out_dir), name="tensorboard", version="", default_hp_metric=False
            )
        except ModuleNotFoundError as e:
            raise VisionfitError(
                f"--logger tensorboard needs the tensorboard package ({e}): "
                "pip install 'visionfit[tracking]' or pip install tensorboard"
            ) from None
        logger.log_hyperparams(params)
        return logger

    try:
        import mlflow  # noqa: F401
        from lightning.pytorch.loggers import MLFlowLogger
    except ModuleNotFoundError as e:
        raise VisionfitError(
            f"--logger mlflow needs the mlflow package ({e}): pip install 'visionfit[tracking]' "
            "or pip install mlflow-skinny"
        ) from None
    uri, artifacts = resolve_mlflow_uri(cfg.tracking.mlflow_uri)
    try:
        logger = MLFlowLogger(
            experiment_name=cfg.tracking.experiment,
            run_name=out_dir.name,
            tracking_uri=uri,
            artifact_location=artifacts,
            tags={"visionfit.run_dir": str(out_dir.resolve()), "visionfit.model": cfg.model.name},
            log_model=False,
        )
        logger.log_hyperparams(params)
    except Exception as e:  # mlflow raises its own exception types for bad URIs and stores
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VisionfitError(f"cannot log to MLflow at {uri}: {first}") from None
    return logger


def tracking_info(logger) -> dict[str, Any]:
    """Where the run was logged, for summary.json and the printed summary."""
    if logger is None:
        return {}
    from lightning.pytorch.loggers import MLFlowLogger

    if isinstance(logger, MLFlowLogger):
        return {
            "logger": "mlflow",
            "tracking_uri": logger._tracking_uri,
            "experiment": logger.name,
            "run_id": logger.run_id,
        }
    return {"logger": "tensorboard", "log_dir": str(Path(logger.log_dir))}


def log_artifacts(logger, run_dir: Path) -> int:
    """Log the run's files (bundle, config, metrics, plots) to MLflow; returns how many."""
    from lightning.pytorch.loggers import MLFlowLogger

    if not isinstance(logger, MLFlowLogger):
        return 0
    files = sorted({p for pattern in _ARTIFACT_GLOBS for p in run_dir.glob(pattern) if p.is_file()})
    for path in files:
        logger.experiment.log_artifact(logger.run_id, str(path))
    return len(files)
