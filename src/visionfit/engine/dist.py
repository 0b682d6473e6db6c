"""Several processes through Lightning (`--devices N --strategy ddp`, `--num-nodes`, torchrun).

Lightning starts the other processes itself (it runs the same command again with LOCAL_RANK set)
or torchrun / SLURM start them all. Every process reads the data and trains; only the main
process (global rank 0) writes the run directory, its metrics, checkpoints' bookkeeping, the
bundle and the summary. The others find the run directory in VISIONFIT_RUN_DIR, which the main
process sets before Lightning starts them (give it yourself for torchrun: a new folder).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from visionfit.errors import RunError

RUN_DIR_ENV = "VISIONFIT_RUN_DIR"


def is_worker() -> bool:
    """True in a process other than the main one (global rank > 0), from the launcher's env."""
    if "RANK" in os.environ:  # torchrun, SLURM through Lightning
        return int(os.environ["RANK"]) != 0
    return int(os.environ.get("LOCAL_RANK", 0)) != 0 or int(os.environ.get("NODE_RANK", 0)) != 0


def world_size(cfg) -> int:
    return int(cfg.train.devices) * int(cfg.train.num_nodes)


def shared_run_dir(create: Callable[[], Path], world: int) -> Path:
    """The run directory all processes of a run use: made by the main process (`create`, or the
    folder VISIONFIT_RUN_DIR names), found by the others in VISIONFIT_RUN_DIR."""
    given = os.environ.get(RUN_DIR_ENV)
    if is_worker():
        deadline = time.monotonic() + 120  # torchrun starts every process at once
        while given and not Path(given).is_dir() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not given or not Path(given).is_dir():
            raise RunError(
                f"this is process {os.environ.get('RANK', os.environ.get('LOCAL_RANK'))} of a "
                f"multi-process run, but {RUN_DIR_ENV} does not name its run directory: with "
                f"torchrun, set {RUN_DIR_ENV}=runs/NAME (a new folder) for every process"
            )
        return Path(given)
    if world > 1 and given:
        path = Path(given)
        if path.exists() and any(path.iterdir()):
            raise RunError(f"{RUN_DIR_ENV}={path} is not empty: name a new folder")
        path.mkdir(parents=True, exist_ok=True)
        return path
    run_dir = create()
    if world > 1:  # inherited by the processes Lightning starts
        os.environ[RUN_DIR_ENV] = str(run_dir)
    return run_dir
