"""Whether `visionfit auto` flips images (training augmentation and test-time flips), from what
validation says about the data rather than by default.

A mirror image of a shirt is a shirt; a mirror image of a "2" or of a letter is no digit or
letter at all. Which kind a dataset is shows in a pilot: the fastest candidate trained for a few
epochs on a subset *without* flips, then the validation split scored twice, as it is and
mirrored. A network that never saw a mirrored image still recognises most mirrored clothes, but
not mirrored digits. What counts is the share of what the pilot learned (its score above chance:
the largest class's share for accuracy, 0.5 for ROC AUC, 0 for R²) that it keeps on mirrored
images — Fashion-MNIST after 2 epochs: (0.66 - 0.10) / (0.78 - 0.10) = 0.82; the bundled digits
after 4: (0.35 - 0.10) / (0.98 - 0.10) = 0.28. So:

- a share of at least `MIN_KEPT` keeps random horizontal flips in training (`augment.hflip`) and
  adds horizontal-flip test-time augmentation (`train.tta hflip`: the prediction is the mean of
  the image's and its mirror's, as in the CIFAR-10 speed runs);
- a smaller one turns both off.

A pilot that learned too little (less than `MIN_LEARNED` above chance) decides nothing: the
recipe's flips stay. Tasks whose outputs are maps (segmentation: the mask flips with the image)
and runs where the user typed the augmentation, `augment.hflip` or `train.tta` are left as they
are. The decision and its evidence go into `auto.json` ("flips") and auto's lines, e.g.
"horizontal flips: off (validation acc on mirrored images 0.35 vs 0.98: ...)".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

MIN_KEPT = 0.6  # of the pilot's score above chance, on mirrored images
MIN_LEARNED = 0.1  # the pilot's score above chance, below which it tells nothing
PILOT_SHARE = 0.06  # of the budget
PILOT_MAX_S = 120.0
PILOT_MAX_EPOCHS = 4
PILOT_TRAIN_IMAGES = 10_000
MIN_PILOT_STEPS = 12
PILOT_VAL_IMAGES = 2_000
SCORE_KEYS = ("val_acc", "val_auroc", "val_r2")  # the first the module logs; higher is better
FLIP_KEYS = ("augment.hflip", "augment.preset", "train.tta")


@dataclass
class FlipDecision:
    hflip: bool | None  # None: no decision (the recipe's own)
    metric: str = ""
    plain: float = math.nan
    mirrored: float = math.nan
    why: str = ""
    seconds: float = 0.0  # the pilot's

    def overrides(self) -> dict:
        if self.hflip is None:
            return {}
        return {"augment.hflip": self.hflip, "train.tta": "hflip" if self.hflip else "none"}

    def line(self) -> str:
        if self.hflip is None:
            return f"horizontal flips: the recipe's ({self.why})"
        state = "on, with flipped test-time augmentation" if self.hflip else "off"
        name = self.metric.removeprefix("val_")
        return (
            f"horizontal flips: {state} (validation {name} on mirrored images "
            f"{self.mirrored:.2f} vs {self.plain:.2f}: {self.why})"
        )

    def to_json(self) -> dict:
        return {
            "hflip": self.hflip,
            "metric": self.metric,
            "plain": self.plain,
            "mirrored": self.mirrored,
            "why": self.why,
            "seconds": self.seconds,
            "line": self.line(),
        }


def decide_flips(metric: str, plain: float, mirrored: float, chance: float = 0.0) -> FlipDecision:
    """The decision from the pilot's validation score on the images as they are and mirrored,
    and the score of a guess (`chance`)."""
    learned = plain - chance
    if not (math.isfinite(learned) and math.isfinite(mirrored)) or learned < MIN_LEARNED:
        return FlipDecision(None, metric, plain, mirrored, "the pilot learned too little to tell")
    kept = (mirrored - chance) / learned
    keep = kept >= MIN_KEPT
    why = f"kept {kept:.0%} of its score above chance ({chance:.2f}) on mirrored images"
    return FlipDecision(keep, metric, plain, mirrored, why)


def should_test_flips(task, given_keys: set[str]) -> str | None:
    """None when the pilot is worth running, else why not."""
    if getattr(task, "spatial_output", False):
        return "the targets are maps that flip with the image"
    typed = [k for k in FLIP_KEYS if k in given_keys]
    if typed:
        return f"{', '.join(typed)} given"
    return None


def pilot_seconds(budget_s: float) -> float:
    return min(PILOT_MAX_S, PILOT_SHARE * budget_s)


def pilot_epochs(epoch_s: float, n_train: int, seconds: float) -> int:
    """Epochs of the subset (`PILOT_TRAIN_IMAGES` at most) that fit in `seconds`; 0: none."""
    if epoch_s <= 0:
        return 0
    subset_epoch_s = epoch_s * min(1.0, PILOT_TRAIN_IMAGES / max(1, n_train))
    return int(min(PILOT_MAX_EPOCHS, seconds // subset_epoch_s))


def run_flip_pilot(task, cfg, data, train_df, val_df, epochs: int, deadline: float):
    """Train `cfg` (a candidate's config) without flips for `epochs` on a subset, then its
    validation score as it is and mirrored, and chance: (metric, plain, mirrored, chance);
    nothing is written."""
    from visionfit.automl.auto_plan import bare_trainer
    from visionfit.engine.deadline import Deadline
    from visionfit.engine.fit import resolve_config
    from visionfit.engine.trainer import create_loaders, create_model

    seed = cfg.train.seed
    train_df = train_df.sample(min(len(train_df), PILOT_TRAIN_IMAGES), random_state=seed)
    val_df = val_df.sample(min(len(val_df), PILOT_VAL_IMAGES), random_state=seed)
    cfg = resolve_config(task, cfg.with_overrides({"augment.hflip": False}), data)
    cfg = cfg.with_overrides({"train.epochs": epochs, "train.tta": "none"})
    created = create_model(task, cfg, data)
    train_loader, val_loader = create_loaders(
        task, cfg, data, train_df, val_df, created.preprocessing
    )
    if len(train_loader) * epochs < MIN_PILOT_STEPS:  # too few to learn (or to schedule)
        return "", math.nan, math.nan, math.nan
    module = task.create_module(
        cfg, data, created.model, train_df, steps_per_epoch=len(train_loader), param_groups=None
    )
    trainer = bare_trainer(cfg, [Deadline(deadline)], max_epochs=epochs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*val_dataloader.*|.*does not have many workers.*")
        trainer.fit(module, train_loader)
        trainer.limit_val_batches = 1.0
        plain = trainer.validate(module, val_loader, verbose=False)[0]
        mirrored = trainer.validate(module, Mirrored(val_loader), verbose=False)[0]
    metric = next((k for k in SCORE_KEYS if k in plain), "")
    if not metric:
        return "", math.nan, math.nan, math.nan
    chance = chance_score(metric, val_df, task.stratify(data))
    return metric, float(plain[metric]), float(mirrored[metric]), chance


def chance_score(metric: str, val_df, column: str) -> float:
    """The score of a guess: the largest class's share (accuracy), 0.5 (ROC AUC), 0 (R²)."""
    if metric == "val_acc" and column in val_df and len(val_df):
        return float(val_df[column].astype(str).value_counts(normalize=True).max())
    return 0.5 if metric == "val_auroc" else 0.0


class Mirrored:
    """A loader's batches with their images mirrored left-right (the last axis)."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, *rest in self.loader:
            yield (x.flip(-1), *rest)


def flip_stage(state: dict, task, cfg, data, df, cands: list, clock, save, given):
    """`cfg` with the flip decision (made once: a resumed `auto` reuses `state["flips"]`)."""
    import time

    from visionfit.automl.auto_inputs import was_typed
    from visionfit.automl.auto_plan import candidate_config
    from visionfit.config import RunConfig

    if "flips" not in state:
        typed = {k for k in FLIP_KEYS if was_typed(k, given, cfg, RunConfig())}
        timed = sorted((c for c in cands if c.timed), key=lambda c: c.epoch_s)
        train_df, val_df = df[df["split"] == "train"], df[df["split"] == "val"]
        seconds = min(pilot_seconds(clock.budget_s), 0.5 * clock.left())
        why = should_test_flips(task, typed)
        epochs = pilot_epochs(timed[0].epoch_s, len(train_df), seconds) if timed else 0
        if why is None and (not len(val_df) or epochs < 1):
            why = "no validation images" if not len(val_df) else "no time for a pilot"
        if why is not None:
            decision = FlipDecision(None, why=why)
        else:
            clock.say(f"flip pilot: {timed[0].name}, {epochs} epochs without flips")
            t0 = time.time()
            pcfg = candidate_config(cfg, timed[0], seed=cfg.train.seed, epochs=epochs)
            try:
                scores = run_flip_pilot(task, pcfg, data, train_df, val_df, epochs, t0 + seconds)
            except (RuntimeError, ValueError, ZeroDivisionError) as e:  # the pilot is optional
                scores = ("", math.nan, math.nan, math.nan)
                clock.say(f"  the flip pilot failed: {e}")
            decision = decide_flips(*scores)
            decision.seconds = time.time() - t0
        state["flips"] = decision.to_json()
        state.setdefault("notes", []).append(decision.line())
        clock.say(decision.line())
        save()
    hflip = state["flips"].get("hflip")
    if hflip is None:
        return cfg
    return cfg.with_overrides(FlipDecision(hflip).overrides())
