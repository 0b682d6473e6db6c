"""bench_train.py --device cuda: resnet50 at 224 px from JPEGs; is the loader or the GPU the limit?

For each variant (fp32; channels-last; bf16 autocast + channels-last; the same + torch.compile):

  GPU only    training steps on one batch already on the GPU: what the GPU can do;
  loader      the visionfit dataset (decode + light augmentation) alone, pinned memory, N workers;
  end to end  training steps fed by that loader.

The limit is the loader when it delivers fewer images/s than the GPU can train on.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from _common import make_photo_dataset, table
from torch.utils.data import DataLoader

VARIANTS = (
    ("fp32", False, False, False),
    ("channels-last", True, False, False),
    ("bf16 + channels-last", True, True, False),
    ("bf16 + channels-last + compile", True, True, True),
)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _loader(root: Path, size: int, batch: int, workers: int, mean, std) -> DataLoader:
    from visionfit.data.datasets import ImageDataset
    from visionfit.data.transforms import create_transforms

    paths = sorted(str(p) for p in root.rglob("*.jpg"))
    targets = [
        sorted({Path(p).parent.name for p in paths}).index(Path(p).parent.name) for p in paths
    ]
    ds = ImageDataset(paths, targets, create_transforms("light", size, mean, std, train=True))
    return DataLoader(
        ds,
        batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )


def _loader_rate(loader: DataLoader) -> float:
    it = iter(loader)
    next(it)  # workers started, first batch out
    t0, n = time.perf_counter(), 0
    for x, _ in it:
        n += len(x)
    return n / max(time.perf_counter() - t0, 1e-9)


def _step_fn(model, opt, device: str, channels_last: bool, bf16: bool):
    loss_fn = torch.nn.CrossEntropyLoss()
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def step(x, y):
        x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def _variant(loader, variant, *, model_name, size, batch, steps, device) -> list[str]:
    import timm

    name, channels_last, bf16, compiled = variant
    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False, num_classes=3).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    if compiled:
        model = torch.compile(model)
    step = _step_fn(model, opt, device, channels_last, bf16)
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 3, (batch,))
    x, y = x.to(device), y.to(device)
    for _ in range(3):  # warm-up (and compilation)
        step(x, y)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    _sync(device)
    gpu = steps * batch / (time.perf_counter() - t0)
    it = iter(loader)
    step(*next(it))
    _sync(device)
    t0, n = time.perf_counter(), 0
    for xb, yb in it:
        step(xb, yb)
        n += len(xb)
    _sync(device)
    e2e = n / max(time.perf_counter() - t0, 1e-9)
    return [name, f"{gpu:,.0f}", f"{e2e:,.0f}", gpu]


def gpu_table(
    tmp: Path,
    args=None,
    *,
    device: str = "cuda",
    model_name: str = "resnet50",
    size: int = 224,
    n: int | None = None,
    batch: int = 128,
    steps: int = 20,
    workers: int | None = None,
    variants=VARIANTS,
) -> str:
    """The table; the keyword arguments let a CPU smoke test run it small."""
    if device == "cuda" and not torch.cuda.is_available():
        return "# --device cuda: no CUDA device visible to torch"
    n = n or max(getattr(args, "n", 0) or 0, 4 * batch)
    workers = workers if workers is not None else min(8, max((os.cpu_count() or 2) - 1, 1))
    root = make_photo_dataset(tmp / "gpu-jpeg", n)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    loader = _loader(root, size, batch, workers, mean, std)
    loader_rate = _loader_rate(loader)
    rows = []
    for v in variants:
        row = _variant(
            loader, v, model_name=model_name, size=size, batch=batch, steps=steps, device=device
        )
        gpu = row.pop()
        limit = "loader" if loader_rate < 0.95 * gpu else "GPU"
        rows.append([*row, f"{loader_rate:,.0f}", limit])
    gpu_name = torch.cuda.get_device_name() if device == "cuda" else device
    head = (
        f"# {model_name} at {size} px, batch {batch}, {n} JPEGs 640x480, "
        f"{workers} loader workers, {gpu_name}"
    )
    cols = ["variant", "GPU only img/s", "end to end img/s", "loader img/s", "limit"]
    return head + "\n" + table(cols, rows)
