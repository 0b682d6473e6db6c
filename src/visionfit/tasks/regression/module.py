"""The regression LightningModule: loss on the standardised target, metrics on the original
scale, and the network wrapped so that its output is already de-scaled (bundle and export)."""

from __future__ import annotations

import torch
import torchmetrics as tm
from torch import nn

from visionfit.config import TrainConfig
from visionfit.tasks.optim import TaskModule
from visionfit.tasks.regression.config import LOSSES
from visionfit.tasks.regression.targets import TargetScaling


class ScaledRegressor(nn.Module):
    """A network with one output, returning `net(x) * std + mean`: values on the target's own
    scale. The scaling is two buffers, saved with the weights (model.safetensors), so every
    fold model of an ensemble and an exported graph carry their own."""

    def __init__(self, net: nn.Module, scaling: TargetScaling):
        super().__init__()
        self.net = net
        self.register_buffer("target_mean", torch.tensor([scaling.mean], dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor([scaling.std], dtype=torch.float32))

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1) outputs in standardised units (what the loss sees)."""
        return self.net(x).float().flatten(1)[:, :1]  # no traced batch size (export)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scaled(x) * self.target_std + self.target_mean


def create_loss(name: str, huber_delta: float = 1.0) -> nn.Module:
    if name == "mse":
        return nn.MSELoss()
    if name == "huber":
        return nn.HuberLoss(delta=huber_delta)
    if name == "l1":
        return nn.L1Loss()
    from visionfit.errors import VisionfitError

    raise VisionfitError(f"unknown regression loss {name!r}; choose from {', '.join(LOSSES)}")


def _metrics(prefix: str) -> tm.MetricCollection:
    return tm.MetricCollection(
        {
            "mae": tm.MeanAbsoluteError(),
            "rmse": tm.MeanSquaredError(squared=False),
            "r2": tm.R2Score(),
        },
        prefix=prefix,
    )


class RegressorModule(TaskModule):
    """`model` is a `ScaledRegressor`; batches are (images, (N, 1) targets on the original
    scale). Logs train/val loss (standardised units) and mae, rmse, r2 (original scale)."""

    def __init__(
        self,
        model: ScaledRegressor,
        train_cfg: TrainConfig,
        *,
        loss: str = "mse",
        huber_delta: float = 1.0,
        steps_per_epoch: int | None = None,
        param_groups: list[dict] | None = None,
    ):
        super().__init__(
            model, 1, train_cfg, steps_per_epoch=steps_per_epoch, param_groups=param_groups
        )
        self.loss_fn = create_loss(loss, huber_delta)
        self.track_epoch_metrics(_metrics("train_"), _metrics("val_"))

    def _step(self, batch):
        x, y = batch
        y = y.float().reshape(len(y), 1)
        z = self.model.scaled(x)
        target = (y - self.model.target_mean) / self.model.target_std
        loss = self.loss_fn(z, target)
        pred = z * self.model.target_std + self.model.target_mean
        return loss, pred.detach().reshape(-1), y.reshape(-1)

    def training_step(self, batch, batch_idx):
        loss, pred, y = self._step(batch)
        self.train_metrics.update(pred, y)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=len(y))
        self.train_loss_mean.update(loss.detach(), weight=len(y))
        self.log("train_loss", self.train_loss_mean, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, pred, y = self._step(batch)
        self.val_metrics.update(pred, y)
        self.val_loss_mean.update(loss, weight=len(y))
        self.log("val_loss", self.val_loss_mean, on_step=False, on_epoch=True)

    def on_validation_epoch_end(self):
        self.log_dict({k: v.float() for k, v in self.val_metrics.compute().items()})
        self.val_metrics.reset()

    def predict_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.model(x)
