"""Every command-line option, declared once as a typed `Annotated` alias, and the named groups
commands are built from (base.py says how).

- base.py: `config_option`, `Group`, `compose`, and the config group (`--config`, `--set`);
- data.py: the data, split, loading, masks and segment groups;
- training.py: the model, train, output, cv, transfer, tracking and baseline groups;
- commands.py: options that belong to one command (predict's --out, tune's --trials, ...).

Every command that trains takes `TRAINING_GROUPS` (train adds cross-validation), so each takes
the same data, model, training and segmentation options, `--config` and `--set`.
"""

from __future__ import annotations

from visionfit.cli.options.base import *  # noqa: F403
from visionfit.cli.options.base import CONFIG, PROGRESS
from visionfit.cli.options.commands import *  # noqa: F403
from visionfit.cli.options.data import *  # noqa: F403
from visionfit.cli.options.data import (
    DATA_GROUP,
    EDITS_GROUP,
    LOADING_GROUP,
    MASKS_GROUP,
    SEGMENT_GROUP,
    SPLIT_GROUP,
)
from visionfit.cli.options.training import *  # noqa: F403
from visionfit.cli.options.training import (
    BASELINE_GROUP,
    CV_GROUP,
    MODEL_GROUP,
    OUTPUT_GROUP,
    PREPROCESS_GROUP,
    TRACKING_GROUP,
    TRAIN_GROUP,
    TRANSFER_GROUP,
)

# The groups of every command that trains a network (train, auto, tune, lr-find).
TRAINING_GROUPS = (
    CONFIG,
    DATA_GROUP,
    EDITS_GROUP,
    SPLIT_GROUP,
    LOADING_GROUP,
    MODEL_GROUP,
    PREPROCESS_GROUP,
    TRAIN_GROUP,
    OUTPUT_GROUP,
    MASKS_GROUP,
    SEGMENT_GROUP,
    TRANSFER_GROUP,
    TRACKING_GROUP,
    PROGRESS,
)
# check reads the data as training would, and trains nothing.
CHECK_GROUPS = (CONFIG, DATA_GROUP, SPLIT_GROUP, MASKS_GROUP, PROGRESS)
# The scikit-learn baseline: the data and folds of a --folds run, its own model options.
BASELINE_GROUPS = (
    CONFIG,
    DATA_GROUP,
    EDITS_GROUP,
    BASELINE_GROUP,
    CV_GROUP.without("refit"),
    OUTPUT_GROUP,
    PROGRESS,
)
