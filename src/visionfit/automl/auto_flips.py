"""Whether `visionfit auto` flips images (training augmentation and test-time flips), from what
validation says about the data rather than by default.

A mirror image of a shirt is a shirt; a mirror image of a "2" or of a letter is no digit or
letter at all. Which kind a dataset is shows in a pilot: the fastest candidate trained for a few
epochs on a subset *without* flips, then the validation split scored twice, as it is and
mirrored. A network that never saw a mirrored image still recognises mirrored shirts (a small
drop), but not mirrored digits (a large one). So:

- a drop of at most `MAX_FLIP_DROP` of the plain score keeps random horizontal flips in training
  (`augment.hflip`) and adds horizontal-flip test-time augmentation (`train.tta hflip`: the
  prediction is the mean of the image's and its mirror's, as in the CIFAR-10 speed runs);
- a larger drop turns both off.

A pilot that learned nothing (its plain score at most `MIN_PILOT_SCORE`) decides nothing: the
recipe's flips stay. Tasks whose outputs are maps (segmentation: the mask flips with the image)
and runs where the user typed the augmentation, `augment.hflip` or `train.tta` are left as they
are. The decision and its evidence go into `auto.json` ("flips") and auto's lines, e.g.
"horizontal flips: off (validation acc on mirrored images 0.41 vs 0.97)".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

MAX_FLIP_DROP = 0.10  # relative drop of the validation score on mirrored images
MIN_PILOT_SCORE = 0.2  # below this the pilot learned too little to tell
PILOT_SHARE = 0.06  # of the budget
PILOT_MAX_S = 120.0
PILOT_MAX_EPOCHS = 4
PILOT_TRAIN_IMAGES = 10_000
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
            f"{self.mirrored:.2f} vs {self.plain:.2f})"
        )

    def to_json(self) -> dict:
        return {
            "hflip": self.hflip,
            "metric": self.metric,
            "plain": self.plain,
            "mirrored": self.mirrored,
            "why": self.why,
            "line": self.line(),
        }


def decide_flips(metric: str, plain: float, mirrored: float) -> FlipDecision:
    """The decision from the pilot's validation score on the images as they are and mirrored."""
    if not (math.isfinite(plain) and math.isfinite(mirrored)) or plain <= MIN_PILOT_SCORE:
        return FlipDecision(None, metric, plain, mirrored, "the pilot learned too little to tell")
    drop = (plain - mirrored) / plain
    keep = drop <= MAX_FLIP_DROP
    why = f"{drop:.0%} lower on mirrored images ({'at most' if keep else 'more than'} "
    why += f"{MAX_FLIP_DROP:.0%})"
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
    validation score as it is and mirrored: (metric, plain, mirrored); nothing is written."""
    import lightning as L

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
    module = task.create_module(
        cfg, data, created.model, train_df, steps_per_epoch=len(train_loader), param_groups=None
    )
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=cfg.train.accelerator,
        devices=1,
        precision=cfg.train.precision,
        callbacks=[Deadline(deadline)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*val_dataloader.*|.*does not have many workers.*")
        trainer.fit(module, train_loader)
        trainer.limit_val_batches = 1.0
        plain = trainer.validate(module, val_loader, verbose=False)[0]
        mirrored = trainer.validate(module, Mirrored(val_loader), verbose=False)[0]
    metric = next((k for k in SCORE_KEYS if k in plain), "")
    if not metric:
        return "", math.nan, math.nan
    return metric, float(plain[metric]), float(mirrored[metric])


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
            scores = run_flip_pilot(task, pcfg, data, train_df, val_df, epochs, t0 + seconds)
            decision = decide_flips(*scores)
            state["stages"].append(
                {
                    "kind": "pilot",
                    "name": "flip-pilot",
                    "status": "done",
                    "seconds": time.time() - t0,
                }
            )
        state["flips"] = decision.to_json()
        state.setdefault("notes", []).append(decision.line())
        clock.say(decision.line())
        save()
    hflip = state["flips"].get("hflip")
    if hflip is None:
        return cfg
    return cfg.with_overrides(FlipDecision(hflip).overrides())
