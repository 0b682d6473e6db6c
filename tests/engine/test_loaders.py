"""The loaders a run trains and validates with: validation batches of --val-batch-size."""

from __future__ import annotations

import lightning as L

import visionfit


class _ValBatches(L.Callback):
    def __init__(self):
        self.train: list[int] = []
        self.val: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.train.append(len(batch[0]))

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self.val.append(len(batch[0]))


def test_validation_batches_have_the_val_batch_size(shapes_dir, tmp_path, fast_config):
    seen = _ValBatches()
    cfg = fast_config(shapes_dir, tmp_path, epochs=1, batch_size=16, val_batch_size=10)
    run = visionfit.fit(cfg, progress=False, callbacks=[seen])
    assert set(seen.train[:-1]) == {16}
    assert seen.val[:-1] and set(seen.val[:-1]) == {10} and seen.val[-1] <= 10
    assert sum(seen.val) == run.n_val
