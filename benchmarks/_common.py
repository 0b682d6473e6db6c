"""Helpers shared by the benchmark scripts: generated datasets, plain PyTorch loops, timing, tables.

Not part of the package or the tests; imported by scripts run as ``python benchmarks/<name>.py``.
"""

from __future__ import annotations

import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def command_line() -> str:
    """The command that made a table, for its header."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def make_photo_dataset(
    root: Path, n: int, *, size: tuple[int, int] = (640, 480), seed: int = 0, quality: int = 90
) -> Path:
    """`n` photo-sized JPEGs in root/<class>/: a noisy textured background and one large shape."""
    rng = np.random.default_rng(seed)
    w, h = size
    for k in range(n):
        cls = CLASSES[k % len(CLASSES)]
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, 3)
        noise = rng.normal(0, 25, (h // 8, w // 8, 3))
        bg = np.clip(base + np.kron(noise, np.ones((8, 8, 1))), 0, 255).astype(np.uint8)
        img = Image.fromarray(bg)
        draw = ImageDraw.Draw(img)
        r = int(rng.integers(h // 6, h // 3))
        cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        if cls == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        elif cls == "square":
            draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
        img.save(folder / f"{cls}_{k:05d}.jpg", quality=quality)
    return root


def train_epoch(model, batches: Iterable, opt, loss_fn, device: str = "cpu") -> None:
    model.train()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()


@torch.no_grad()
def eval_epoch(model, batches: Iterable, device: str = "cpu") -> float:
    model.eval()
    correct = total = 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        correct += (model(x).argmax(1) == y).sum().item()
        total += len(y)
    return correct / max(total, 1)


def time_epochs(run_epoch: Callable[[], None], epochs: int) -> list[float]:
    """Seconds of each epoch (the caller drops the warm-up)."""
    out = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        run_epoch()
        out.append(time.perf_counter() - t0)
    return out


def steady(seconds: list[float]) -> float:
    """Median epoch time after the first (warm-up) epoch; the only epoch if there is one."""
    rest = seconds[1:] or seconds
    return statistics.median(rest)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(lines)
