"""The classification LightningModule: loss, torchmetrics per stage, optimizer and schedule.

The network is passed in (composition): this module owns only how it is trained.
"""

from __future__ import annotations

import warnings

import torch
import torchmetrics as tm
from torch import nn

from visionfit.config import TrainConfig
from visionfit.tasks.classification.mixup import create_mixup, mix_batch
from visionfit.tasks.optim import TaskModule


def probabilities(
    logits: torch.Tensor, task: str, temperature: float | None = None
) -> torch.Tensor:
    """(N, num_classes) class probabilities from the network's logits (independent per label for
    multi-label, so its rows do not sum to 1), the logits divided by `temperature` first (the
    run's temperature scaling, model.json `temperature`; None or 1: none)."""
    if temperature is not None and float(temperature) != 1.0:
        logits = logits.float() / float(temperature)
    if task == "multilabel":
        return torch.sigmoid(logits.float())
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
            # mean of sensitivity and specificity, composed from torchmetrics' own metrics
            "balanced_acc": (
                tm.classification.BinaryRecall() + tm.classification.BinarySpecificity()
            )
            / 2,
        }
    elif task == "multilabel":
        kw = {"num_labels": num_classes}
        metrics = {
            "acc": tm.classification.MultilabelAccuracy(**kw),
            "macro_f1": tm.classification.MultilabelF1Score(average="macro", **kw),
            "auroc": tm.classification.MultilabelAUROC(average="macro", **kw),
        }
    else:
        kw = {"num_classes": num_classes}
        metrics = {
            "acc": tm.classification.MulticlassAccuracy(average="micro", **kw),
            "macro_f1": tm.classification.MulticlassF1Score(average="macro", **kw),
            "balanced_acc": tm.classification.MulticlassRecall(average="macro", **kw),
        }
    return tm.MetricCollection(metrics, prefix=prefix)


class ClassifierModule(TaskModule):
    """Binary (one logit, BCE), multi-class (cross-entropy), multi-label (BCE per label) and
    soft labels (cross-entropy against class probabilities; metrics against the arg-max class).

    `loss_weight` (see tasks/imbalance.py): BCE's pos_weight for binary / multi-label,
    cross-entropy's class weights otherwise.
    """

    def __init__(
        self,
        model: nn.Module,
        task: str,
        num_classes: int,
        train_cfg: TrainConfig,
        *,
        loss_weight: torch.Tensor | None = None,
        **common,  # steps_per_epoch, param_groups: see TaskModule
    ):
        super().__init__(model, num_classes, train_cfg, **common)
        self.task = task
        if task in ("binary", "multilabel"):
            self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=loss_weight)
        else:
            self.loss_fn = nn.CrossEntropyLoss(
                weight=loss_weight, label_smoothing=train_cfg.label_smoothing
            )
        # Mixup / CutMix: multi-class only (resolve_config turns them off for other tasks)
        self.mixer = (
            create_mixup(train_cfg.mixup, train_cfg.cutmix, train_cfg.label_smoothing, num_classes)
            if task == "multiclass"
            else None
        )
        self.track_epoch_metrics(
            _metrics(task, num_classes, "train_"), _metrics(task, num_classes, "val_")
        )
        # AUROC is undefined on a validation set of one class: logged as NaN (shown "n/a",
        # null in summary.json), not torchmetrics' 0 (sums: reduced over DDP processes too)
        self.val_positives, self.val_count = tm.SumMetric(), tm.SumMetric()

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "binary":
            return self.loss_fn(logits.reshape(-1).float(), y.float())
        if self.task in ("multilabel", "soft"):
            return self.loss_fn(logits.float(), y.float())
        return self.loss_fn(logits.float(), y)

    def _metric_input(self, logits: torch.Tensor) -> torch.Tensor:
        if self.task in ("binary", "multilabel"):
            p = probabilities(logits, self.task)
            return p[:, 1] if self.task == "binary" else p
        return logits.float()

    def _metric_target(self, y: torch.Tensor) -> torch.Tensor:
        if self.task == "multilabel":
            return y.round().long()
        if self.task == "soft":
            return y.argmax(dim=1)
        return y

    def training_step(self, batch, batch_idx):
        x, y = batch
        x, soft = mix_batch(self.mixer, x, y)
        logits = self(x)
        if soft is None:
            loss = self._loss(logits, y)
        else:  # soft targets of the mixed pairs; metrics still against each image's own class
            loss = nn.functional.cross_entropy(
                logits.float(), soft.float(), weight=self.loss_fn.weight
            )
        # update, not forward: forward also computes a per-batch value nobody reads
        self.train_metrics.update(self._metric_input(logits).detach(), self._metric_target(y))
        # Metric objects logged on_epoch are computed and reset by Lightning at the epoch's end,
        # before any callback's on_train_epoch_end reads them.
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=len(y))
        self.train_loss_mean.update(loss.detach(), weight=len(y))
        self.log("train_loss", self.train_loss_mean, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.val_metrics.update(self._metric_input(logits), self._metric_target(y))
        if self.task == "binary":
            self.val_positives.update(y.float().sum())
            self.val_count.update(torch.tensor(float(len(y)), device=y.device))
        self.val_loss_mean.update(self._loss(logits, y), weight=len(y))
        self.log("val_loss", self.val_loss_mean, on_step=False, on_epoch=True)

    def predict_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return probabilities(self(x), self.task)

    def on_validation_epoch_end(self):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No (positive|negative) samples")
            scores = {k: v.float() for k, v in self.val_metrics.compute().items()}
        if self.task == "binary" and "val_auroc" in scores:
            pos, n = float(self.val_positives.compute()), float(self.val_count.compute())
            if pos == 0 or pos == n:
                scores["val_auroc"] = torch.tensor(float("nan"), device=scores["val_auroc"].device)
            self.val_positives.reset()
            self.val_count.reset()
        self.log_dict(scores)
        self.val_metrics.reset()
