"""Which checkpoint of a run (or of one fold of a CV run) training continues from: the newest
that loads, `checkpoints/last.ckpt`, else `checkpoints/previous.ckpt`, with a line for each one
that did not (engine/resume.py and the CV resume ask here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from visionfit.engine.resumable import LAST, PREVIOUS
from visionfit.models.weight_files import load_error_reason

_REQUIRED_KEYS = ("state_dict", "loops", "optimizer_states", "epoch", "global_step", "callbacks")


@dataclass
class CheckpointChoice:
    path: Path | None  # None: no usable checkpoint, train from the start
    epoch: int = 0
    global_step: int = 0
    finished: bool = False  # written at the end of training: only the bundle is missing
    messages: tuple[str, ...] = ()

    def decision_lines(self, where: str, *, finishing: str) -> list[str]:
        """What resuming `where` does: a line per checkpoint passed over, then the choice."""
        lines = list(self.messages)
        if self.path is None:
            where = f"{where}/checkpoints"
            lines.append(f"no usable checkpoint in {where}: training again from epoch 0")
        elif self.finished:
            lines.append(f"training had finished ({self.path.name}); {finishing}")
        else:
            instead = " instead" if self.messages else ""
            lines.append(
                f"resuming {where} from checkpoints/{self.path.name}{instead} "
                f"(epoch {self.epoch}, step {self.global_step})"
            )
        return lines


def inspect_checkpoint(path: Path) -> tuple[dict | None, str]:
    """Load a checkpoint safely (weights_only); (checkpoint, "") or (None, why it is unusable)."""
    if not path.exists():
        return None, "missing"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # truncated zip, not a checkpoint, unpicklable content, ...
        return None, f"unreadable or truncated ({load_error_reason(e)})"
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED_KEYS):
        return None, "not a complete training checkpoint"
    return ckpt, ""


def find_resume_checkpoint(run_dir: str | Path) -> CheckpointChoice:
    """The newest checkpoint of `run_dir` that loads, and a line for each one that did not."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    messages: list[str] = []
    for name in (LAST, PREVIOUS):
        path = ckpt_dir / name
        ckpt, why = inspect_checkpoint(path)
        if ckpt is None:
            messages.append(f"checkpoints/{name} is {why}")
            continue
        state = ckpt.get("callbacks", {}).get("ResumeCheckpoint", {})
        return CheckpointChoice(
            path=path,
            epoch=int(ckpt["epoch"]),
            global_step=int(ckpt["global_step"]),
            finished=bool(state.get("finished", False)),
            messages=tuple(messages),
        )
    return CheckpointChoice(path=None, messages=tuple(messages))
