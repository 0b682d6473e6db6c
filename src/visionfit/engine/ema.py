"""Weight EMA (timm `ModelEmaV3`) as a Lightning callback, and the choice between it and the
best epoch's weights.

The average is updated after every optimizer step, travels in every checkpoint (so a resumed run
continues the same average) and is evaluated once after training on the validation data; the
bundle gets the EMA weights when they score better on the monitored metric than the best
epoch's weights, which are otherwise kept. Training itself, the best checkpoint and early
stopping follow the live weights, as in timm's train.py without `--model-ema-force-cpu`.
"""

from __future__ import annotations

import lightning as L
from timm.utils import ModelEmaV3


class WeightEMA(L.Callback):
    """Exponential moving average of `pl_module.model`'s weights (with timm's warm-up, so that a
    short run is not dominated by its random initial weights)."""

    def __init__(self, decay: float):
        self.decay = decay
        self.ema: ModelEmaV3 | None = None
        self._loaded: dict | None = None

    @property
    def state_key(self) -> str:
        return "WeightEMA"

    def on_fit_start(self, trainer, pl_module):
        self.ema = ModelEmaV3(pl_module.model, decay=self.decay, use_warmup=True)
        if self._loaded is not None:  # resumed: continue the saved average
            self.ema.module.load_state_dict(self._loaded)
            self._loaded = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.ema.update(pl_module.model, step=trainer.global_step)

    def state_dict(self) -> dict:
        if self.ema is None:
            return {"weights": self._loaded}
        return {"weights": {k: v.detach().cpu() for k, v in self.ema.module.state_dict().items()}}

    def load_state_dict(self, state_dict: dict) -> None:
        self._loaded = state_dict.get("weights")

    def restore_if_unfitted(self, last_ckpt) -> None:
        """A run resumed after training had finished did not fit: read the average from its
        final checkpoint."""
        if self.ema is None and self._loaded is None and last_ckpt.is_file():
            from visionfit.engine.callbacks import load_checkpoint

            ckpt = load_checkpoint(last_ckpt)
            self._loaded = ckpt.get("callbacks", {}).get(self.state_key, {}).get("weights")

    def weights(self) -> dict | None:
        if self.ema is not None:
            return self.ema.module.state_dict()
        return self._loaded


def use_ema_if_better(trainer, module, ema: WeightEMA | None, val_loader, monitor, mode, best):
    """Validate the EMA weights; keep them in `module` when they beat `best` (the best epoch's
    monitored value). Returns (their validation metrics, whether they were kept); ({}, False)
    without an EMA or validation data."""
    weights = ema.weights() if ema is not None else None
    if weights is None or val_loader is None:
        return {}, False
    live = {k: v.detach().clone() for k, v in module.model.state_dict().items()}
    module.model.load_state_dict(weights)
    metrics = {
        k: float(v) for k, v in trainer.validate(module, val_loader, verbose=False)[0].items()
    }
    value = metrics.get(monitor)
    better = (
        value is not None and best is not None and (value < best if mode == "min" else value > best)
    )
    if not better:
        module.model.load_state_dict(live)
    module.eval()
    return metrics, bool(better)


def ema_callback(decay: float | None) -> list:
    return [WeightEMA(decay)] if decay else []


def find_ema(callbacks) -> WeightEMA | None:
    return next((c for c in callbacks if isinstance(c, WeightEMA)), None)
