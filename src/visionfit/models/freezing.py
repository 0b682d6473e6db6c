"""Fine-tuning policies: freeze the backbone, unfreeze it after N epochs, a lower backbone lr.

The "head" is the classifier found by `models.heads.classifier_names`; everything else is the
backbone. A frozen backbone gets no gradients and its BatchNorm layers stay in eval mode (running
statistics used and left unchanged), even though Lightning puts the module in train mode; with
`frozen_bn="train"` they follow the module's mode instead (batch statistics, running statistics
updated: what a frozen Keras backbone did before Keras 2.1.3, and what some tutorials rely on).

Both parameter groups are given to the optimizer from the start, named `head` and `backbone`;
freezing only turns gradients off. Lightning's `BaseFinetuning` instead adds the backbone's group
when it unfreezes, which the step-wise schedulers built in `configure_optimizers` do not know about
(torch's LambdaLR raises on a group added later), and it runs frozen BatchNorm on batch statistics
(`track_running_stats=False`) rather than keeping it in eval mode.

Example:
    >>> cfg = FinetuneConfig(finetune_epochs=2)
    >>> policy = create_finetune_policy(model, cfg, lr=1e-3, epochs=10)  # doctest: +SKIP
    >>> trainer = L.Trainer(callbacks=policy.callbacks)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightning as L
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from visionfit.config import FinetuneConfig
from visionfit.errors import VisionfitError
from visionfit.models.heads import classifier_names


def _in_head(name: str, heads: list[str]) -> bool:
    return any(name == h or name.startswith(f"{h}.") for h in heads)


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(head parameters, backbone parameters)."""
    heads = classifier_names(model)
    head, backbone = [], []
    for name, p in model.named_parameters():
        (head if _in_head(name, heads) else backbone).append(p)
    return head, backbone


def backbone_batchnorms(model: nn.Module) -> list[_BatchNorm]:
    heads = classifier_names(model)
    return [
        m for n, m in model.named_modules() if isinstance(m, _BatchNorm) and not _in_head(n, heads)
    ]


def set_backbone_frozen(model: nn.Module, frozen: bool, batchnorm: bool = True) -> None:
    """Turn the backbone's gradients off (and its BatchNorm to eval mode) or back on."""
    _, backbone = split_parameters(model)
    for p in backbone:
        p.requires_grad_(not frozen)
    if not batchnorm:
        return
    for bn in backbone_batchnorms(model):
        # unfrozen BatchNorm follows the module's own mode again
        bn.train(False if frozen else model.training)


class BackboneFreeze(L.Callback):
    """Keep `model`'s backbone frozen until epoch `unfreeze_at` (None: for the whole run)."""

    def __init__(self, model: nn.Module, unfreeze_at: int | None = None, bn_eval: bool = True):
        self.model = model
        self.unfreeze_at = unfreeze_at
        self.bn_eval = bn_eval  # False: frozen BatchNorm keeps updating its running statistics
        self._bns = backbone_batchnorms(model)

    def frozen_at(self, epoch: int) -> bool:
        return self.unfreeze_at is None or epoch < self.unfreeze_at

    def setup(self, trainer, pl_module, stage):
        if stage == "fit":  # before the optimizer is built; BatchNorm follows at epoch start
            set_backbone_frozen(self.model, self.frozen_at(trainer.current_epoch), batchnorm=False)

    def on_train_epoch_start(self, trainer, pl_module):
        set_backbone_frozen(
            self.model, self.frozen_at(trainer.current_epoch), batchnorm=self.bn_eval
        )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # Lightning switches modules back to train mode around validation; this is cheap
        if self.bn_eval and self.frozen_at(trainer.current_epoch):
            for bn in self._bns:
                if bn.training:
                    bn.eval()


@dataclass
class FinetunePolicy:
    """Optimizer parameter groups (None: one group of all trainable parameters) and callbacks."""

    param_groups: list[dict] | None = None
    callbacks: list[L.Callback] = field(default_factory=list)
    description: str = "all layers trained"


def create_finetune_policy(
    model: nn.Module, cfg: FinetuneConfig, lr: float, epochs: int
) -> FinetunePolicy:
    """The optimizer groups and callbacks that carry out `cfg` on `model`."""
    mult = cfg.effective_backbone_lr_mult
    if cfg.freeze == "none" and not cfg.finetune_epochs and mult == 1.0:
        return FinetunePolicy()
    head, backbone = split_parameters(model)
    if not backbone:
        raise VisionfitError(
            f"{type(model).__name__} has no parameters outside its classifier: nothing to freeze "
            "or to give a lower learning rate. Drop --freeze/--finetune/--backbone-lr-mult."
        )
    head_group = {"params": head, "lr": lr, "name": "head"}
    bn_eval = cfg.frozen_bn == "eval"
    if cfg.freeze == "backbone":
        bn = "" if bn_eval else " (its BatchNorm statistics updated)"
        return FinetunePolicy(
            [head_group],
            [BackboneFreeze(model, bn_eval=bn_eval)],
            f"backbone frozen{bn}, head trained",
        )
    groups = [head_group, {"params": backbone, "lr": lr * mult, "name": "backbone"}]
    if not cfg.finetune_epochs:
        return FinetunePolicy(groups, [], f"all layers trained, backbone lr x {mult:g}")
    if cfg.finetune_epochs >= epochs:
        raise VisionfitError(
            f"--finetune {cfg.finetune_epochs} trains only the head for {cfg.finetune_epochs} "
            f"epochs, but the run has {epochs}: the backbone would never be unfrozen. Use more "
            "--epochs, or --freeze backbone to train only the head."
        )
    return FinetunePolicy(
        groups,
        [BackboneFreeze(model, unfreeze_at=cfg.finetune_epochs, bn_eval=bn_eval)],
        f"head only for {cfg.finetune_epochs} epochs, then all layers (backbone lr x {mult:g})",
    )
