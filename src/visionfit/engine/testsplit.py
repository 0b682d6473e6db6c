"""The test split, scored once: after training, model selection and post-processing are done,
the finished run is loaded from disk (`visionfit.load`) and predicts the test images exactly as
`visionfit predict` would; the task scores those predictions. Nothing before this step reads a
test row: the trainer sees `split == "train"` / `"val"` only, folds and tuning drop test rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from visionfit.config import RunConfig
from visionfit.fileio import json_safe
from visionfit.runs import files as run_files
from visionfit.runs.rundir import atomic_write_text
from visionfit.tasks.base import ScoreSplit, Task, TaskData

TEST_SCORES_FILE = run_files.TEST_SCORES


def score_test_split(
    task: Task,
    cfg: RunConfig,
    data: TaskData,
    run_dir: Path,
    test_df: pd.DataFrame,
    *,
    progress: bool = False,
) -> dict:
    """Score `run_dir`'s final model on `test_df` and write test_scores.json; {} without test
    rows. The result: metric, score, every score, n_test and how it was predicted."""
    if test_df is None or test_df.empty:
        return {}
    from visionfit.inference.loading import load_run as load

    predictor = load(run_dir)
    tta = predictor.meta.get("tta", "none")
    scores = task.score_split(
        ScoreSplit(cfg, data, predictor, test_df, run_dir, tta=tta, progress=progress)
    )
    result = {
        **scores,
        "n_test": len(test_df),
        "tta": tta,
        "scored": "once, after training and post-processing, with visionfit.load(run).predict",
    }
    atomic_write_text(run_dir / TEST_SCORES_FILE, json.dumps(json_safe(result), indent=2))
    return result


def read_test_scores(run_dir: Path) -> dict:
    path = Path(run_dir) / TEST_SCORES_FILE
    return run_files.read_json(path) if path.is_file() else {}
