"""The segmentation LightningModule: loss, per-epoch dice/IoU, optimizer and schedule.

The network is passed in. Binary masks use one logit map (sigmoid); K > 2 classes use K maps
(softmax). Losses come from segmentation_models_pytorch (dice, focal, lovasz) and torch (BCE, CE).
A network whose output is smaller than its input (the valid-convolution U-Net) is scored on the
centre crop of the target.
"""

from __future__ import annotations

import torch
import torchmetrics as tm
from torch import nn

from visionfit.config import TrainConfig
from visionfit.errors import ModelError
from visionfit.models.unet import centre_crop
from visionfit.tasks.optim import TaskModule
from visionfit.tasks.segmentation.metrics import SegScores, image_stats, per_image_dice

BINARY_LOSSES = ("bce", "dice", "focal", "bce+dice", "lovasz")
MULTICLASS_LOSSES = ("ce", "ce+dice", "dice", "focal", "lovasz")


def default_loss(num_classes: int) -> str:
    return "bce+dice" if num_classes == 2 else "ce+dice"


def create_loss(name: str, num_classes: int, ignore_index: int | None = None) -> nn.Module:
    """The loss for `num_classes` (2: binary, one logit map) from its name; target pixels of
    `ignore_index` are left out of every part (smp's losses take it; BCE masks itself)."""
    from segmentation_models_pytorch import losses

    binary = num_classes == 2
    valid = BINARY_LOSSES if binary else MULTICLASS_LOSSES
    if name == "auto":
        name = default_loss(num_classes)
    if name not in valid:
        kind = "binary" if binary else f"{num_classes}-class"
        raise ModelError(f"loss {name!r} does not fit {kind} masks; choose from {', '.join(valid)}")
    mode = losses.BINARY_MODE if binary else losses.MULTICLASS_MODE
    ignore = ignore_index
    parts: list[nn.Module] = []
    for part in name.split("+"):
        if part == "bce":
            parts.append(_BCE(ignore_index))
        elif part == "ce":
            parts.append(nn.CrossEntropyLoss(ignore_index=-100 if ignore is None else ignore))
        elif part == "dice":
            parts.append(losses.DiceLoss(mode, from_logits=True, ignore_index=ignore))
        elif part == "focal":
            parts.append(losses.FocalLoss(mode, ignore_index=ignore))
        elif part == "lovasz":
            parts.append(
                losses.LovaszLoss(mode, per_image=False, from_logits=True, ignore_index=ignore)
            )
    return _Sum(parts) if len(parts) > 1 else parts[0]


class _BCE(nn.Module):
    def __init__(self, ignore_index: int | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        self.bce = nn.BCEWithLogitsLoss(reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.ignore_index is None:
            return self.bce(logits, target.float()).mean()
        valid = target != self.ignore_index
        loss = self.bce(logits, torch.where(valid, target, 0).float())
        return (loss * valid).sum() / valid.sum().clamp(min=1)


class _Sum(nn.Module):
    def __init__(self, parts: list[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(p(logits, target) for p in self.parts)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) class probabilities; binary logits (N, 1, H, W) give background + foreground."""
    logits = logits.float()
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


class SegmenterModule(TaskModule):
    """Trains a segmenter: the loss on logit maps, per-image dice while training, dice / IoU /
    pixel accuracy on validation. `steps_per_epoch` and `param_groups` as in ClassifierModule."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        train_cfg: TrainConfig,
        *,
        loss: str = "auto",
        class_names: list[str] | None = None,
        ignore_index: int | None = None,  # class-map value left out of loss and scores
        **common,  # steps_per_epoch, param_groups: see TaskModule
    ):
        super().__init__(model, num_classes, train_cfg, **common)
        self.loss_fn = create_loss(loss, num_classes, ignore_index)
        self.class_names, self.ignore_index = class_names, ignore_index
        self.val_scores = SegScores(num_classes, class_names, ignore_index)
        # Running train means live in checkpoints, so that a run resumed in the middle of an
        # epoch reports the same epoch metrics as one that was not interrupted.
        self.train_loss_mean, self.train_dice_mean = tm.MeanMetric(), tm.MeanMetric()
        for metric in (self.train_loss_mean, self.train_dice_mean):
            metric.persistent(True)
        self.val_loss_mean = tm.MeanMetric()  # reduced over the processes (DDP)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _step(self, batch):
        x, y = batch
        logits = self(x)
        if logits.shape[-2:] != y.shape[-2:]:
            y = centre_crop(y, logits.shape[-2], logits.shape[-1])
        if self.num_classes == 2:
            loss = self.loss_fn(logits.float(), y.unsqueeze(1))
        else:
            loss = self.loss_fn(logits.float(), y)
        return logits, y, loss

    def _update(self, scores: SegScores, logits: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            if self.num_classes == 2:
                p = torch.sigmoid(logits.float()[:, 0])
                if self.ignore_index is not None:
                    p = p.masked_fill(y == self.ignore_index, 0.0)
                scores.update((p >= 0.5).long(), y, p.flatten(1).amax(1))
            else:
                scores.update(logits.argmax(1), y)

    def training_step(self, batch, batch_idx):
        logits, y, loss = self._step(batch)
        with torch.no_grad():
            if self.num_classes == 2:
                pred = (logits.detach()[:, 0] >= 0).long()
            else:
                pred = logits.detach().argmax(1)
            stats = image_stats(pred, y, self.num_classes, self.ignore_index)
            dice = per_image_dice(stats).mean()
        # Batch means weighted by batch size average to the epoch's mean per-image dice.
        self.train_loss_mean.update(loss.detach(), weight=len(y))
        self.train_dice_mean.update(dice, weight=len(y))
        self.log("train_loss", self.train_loss_mean, on_step=False, on_epoch=True)
        self.log("train_dice", self.train_dice_mean, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        logits, y, loss = self._step(batch)
        self._update(self.val_scores, logits, y)
        self.val_loss_mean.update(loss, weight=len(y))
        self.log("val_loss", self.val_loss_mean, on_step=False, on_epoch=True)

    def on_validation_epoch_end(self):
        self.val_scores.gather()  # every process's images, when several train
        scores = self.val_scores.compute()
        self.val_scores.reset()
        self.log_dict({f"val_{k}": float(v) for k, v in scores.items()})

    def predict_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return probabilities(self(x))
