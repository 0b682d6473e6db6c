"""Training's progress: Lightning's Rich bar on a terminal, lines in a log (visionfit/progress.py).

Off a terminal a Rich bar prints nothing, so a run whose output goes to a file looked dead for
as long as an epoch lasts. `LogProgress` is Lightning's progress bar there (a `ProgressBar`, so
Lightning adds no bar of its own): within an epoch a line at least every `progress.interval()`
seconds (batches done, rate, time left in the epoch), and after such an epoch its scores and the
time the run has left; quicker epochs get their line at most once per interval (the last always).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar

from visionfit.progress import LineProgress, duration_text, interval, on_terminal

# the scores an epoch line shows, in this order (the others are in metrics.csv)
SHOWN = ("train_loss", "val_loss", "val_acc", "val_dice", "val_r2", "val_auroc", "val_mae")


def progress_callback(progress: bool) -> ProgressBar | None:
    """The run's progress bar: Rich on a terminal, lines elsewhere, none without progress."""
    if not progress:
        return None
    return RichProgressBar(leave=True) if on_terminal() else LogProgress()


class LogProgress(ProgressBar):
    def __init__(self, clock: Callable[[], float] = time.monotonic, stream=None):
        super().__init__()
        self.clock, self.stream = clock, stream if stream is not None else sys.stderr
        self._enabled = True
        self._epoch: LineProgress | None = None
        self._run_start = self._epoch_start = self._last_line = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, pl_module) -> None:
        self._run_start = self._last_line = self.clock()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        total = self.total_train_batches
        total = int(total) if isinstance(total, (int, float)) and math.isfinite(total) else None
        label = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        self._epoch = LineProgress(label, total, "batches", stream=self.stream, clock=self.clock)
        self._epoch_start = self.clock()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._enabled and self._epoch is not None:
            self._epoch.update(batch_idx + 1)
            self._last_line = max(self._last_line, self._epoch.last)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._enabled:
            return
        now, done = self.clock(), trainer.current_epoch + 1
        last = done >= (trainer.max_epochs or 0) or trainer.should_stop
        # an epoch that printed batch lines ends with its scores; quicker epochs: one line per
        # interval (and the last epoch)
        shown = self._epoch is not None and self._epoch.lines > 0
        if not (shown or last or now - self._last_line >= interval()):
            return
        self._last_line = now
        print(self.epoch_line(trainer, now, done), file=self.stream, flush=True)

    def epoch_line(self, trainer, now: float, done: int) -> str:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k in SHOWN}
        scores = ", ".join(f"{k} {metrics[k]:.4f}" for k in SHOWN if k in metrics)
        text = f"epoch {done}/{trainer.max_epochs} done in {duration_text(now - self._epoch_start)}"
        text += f": {scores}" if scores else ""
        left = (trainer.max_epochs or done) - done
        if left > 0 and not trainer.should_stop:
            per_epoch = (now - self._run_start) / done
            more = f"{left} more epoch{'s' if left > 1 else ''}"
            text += f"; about {duration_text(left * per_epoch)} left for {more}"
        return text
