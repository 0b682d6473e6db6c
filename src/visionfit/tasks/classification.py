"""The classification LightningModule: loss, torchmetrics per stage, optimizer and schedule.

The network is passed in (composition): this module owns only how it is trained.
"""

from __future__ import annotations

import math

import lightning as L
import torch
import torchmetrics as tm
from torch import nn

from visionfit.config import TrainConfig


def num_outputs_for(task: str, num_classes: int) -> int:
    """Binary uses one logit with BCE; multi-class uses one logit per class."""
    return 1 if task == "binary" else num_classes


def default_monitor(task: str) -> tuple[str, str]:
    """Validation loss: a proper score with no ties, unlike accuracy or AUC on a small val set."""
    return ("val_loss", "min")


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    """(N, num_classes) class probabilities from the network's logits."""
    if task == "binary":
        p = torch.sigmoid(logits.float().reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits.float(), dim=1)


def _metrics(task: str, num_classes: int, prefix: str) -> tm.MetricCollection:
    if task == "binary":
        metrics = {
            "acc": tm.classification.BinaryAccuracy(),
            "auroc": tm.classification.BinaryAUROC(),
            "f1": tm.classification.BinaryF1Score(),
        }
    else:
        kw = {"num_classes": num_classes}
        metrics = {
            "acc": tm.classification.MulticlassAccuracy(average="micro", **kw),
            "macro_f1": tm.classification.MulticlassF1Score(average="macro", **kw),
            "balanced_acc": tm.classification.MulticlassRecall(average="macro", **kw),
        }
    return tm.MetricCollection(metrics, prefix=prefix)


class ClassificationTask(L.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        task: str,
        num_classes: int,
        train_cfg: TrainConfig,
        param_groups: list[dict] | None = None,
    ):
        super().__init__()
        # Optimizer parameter groups with their own "lr" (e.g. head / backbone, models/freezing);
        # None: every trainable parameter at train_cfg.lr.
        self.param_groups = param_groups
        self.model = model
        self.task = task
        self.num_classes = num_classes
        self.cfg = train_cfg
        if task == "binary":
            self.loss_fn = nn.BCEWithLogitsLoss()
        else:
            self.loss_fn = nn.CrossEntropyLoss(label_smoothing=train_cfg.label_smoothing)
        self.train_metrics = _metrics(task, num_classes, "train_")
        self.val_metrics = _metrics(task, num_classes, "val_")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "binary":
            return self.loss_fn(logits.reshape(-1).float(), y.float())
        return self.loss_fn(logits.float(), y)

    def _metric_input(self, logits: torch.Tensor) -> torch.Tensor:
        return probabilities(logits, self.task)[:, 1] if self.task == "binary" else logits.float()

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = self._loss(logits, y)
        self.train_metrics(self._metric_input(logits).detach(), y)
        # Metric objects logged on_epoch are computed and reset by Lightning at the epoch's end,
        # before any callback's on_train_epoch_end reads them.
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=len(y))
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.val_metrics.update(self._metric_input(logits), y)
        self.log("val_loss", self._loss(logits, y), on_epoch=True, batch_size=len(y))

    def on_validation_epoch_end(self):
        self.log_dict({k: v.float() for k, v in self.val_metrics.compute().items()})
        self.val_metrics.reset()

    def configure_optimizers(self):
        cfg = self.cfg
        params = self.param_groups or [p for p in self.parameters() if p.requires_grad]
        if cfg.opt == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.opt == "adam":
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
            )
        if cfg.sched == "none":
            return opt
        if cfg.sched == "cosine":
            total = max(1, int(self.trainer.estimated_stepping_batches))
            steps_per_epoch = max(1, total // max(1, cfg.epochs))
            # Warm-up never takes more than a tenth of a short run.
            warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total // 10)

            def factor(step: int) -> float:
                if step < warmup:
                    return (step + 1) / (warmup + 1)
                progress = (step - warmup) / max(1, total - warmup)
                return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if cfg.sched == "step":
            step = max(1, cfg.epochs // 3)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=0.1)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "interval": "epoch", "monitor": "val_loss"},
        }
