"""benchmarks/gpu.sh's driver: training images/s of resnet50 at 224 px from JPEG files on one CUDA
GPU, visionfit against a plain PyTorch loop, both in bf16 with channels-last, and whether the
loader is the limit.

Stages, all on the same generated JPEGs (--n files of --jpeg WxH, three classes), the same batch
size and the same number of loader workers (visionfit's default: min(8, CPUs - 1)):

  GPU only     training steps on one batch already on the GPU: the ceiling;
  plain loop   timm's network, AdamW, bf16 autocast, channels-last input, fed by a DataLoader whose
               workers decode with PIL (torchvision Resize + flip + ToTensor + Normalize), the way
               the PyTorch tutorials do it;
  visionfit    visionfit.fit on the folder, --precision bf16-mixed, channels-last (its default):
               --cache none decodes every JPEG every epoch as the plain loop does; --cache auto (the
               default) decodes once before training (in its start-up time);
  GPU decode   the plain loop with workers that only read the files' bytes and
               torchvision.io.decode_jpeg decoding each batch on the GPU (nvJPEG), resize included;
  DALI         its mixed decoder, where nvidia-dali is installed;
  loader only  each loader alone, no training: the images/s it can deliver.

Every stage is bounded by steps: --passes passes over the files, each leaving out its first
--warmup batches (workers starting, cuDNN's first calls). Defaults run in about two minutes on an
H100; --cpu-smoke runs every stage on the CPU at tiny sizes, to check the script, not the speed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

FULL = {"n": 4096, "size": 224, "jpeg": "500x375", "batch": 256, "warmup": 3, "passes": 2}
SMOKE = {"n": 64, "size": 32, "jpeg": "64x48", "batch": 16, "warmup": 1, "passes": 1, "workers": 1}
SMOKE_MODEL = "resnet10t"  # resnet50 takes seconds a step on 2 shared cores
T0 = time.perf_counter()
DESCRIPTION = (
    "Training img/s of resnet50 at 224 px from JPEG files on one CUDA GPU: visionfit against a "
    "plain PyTorch loop, bf16 + channels-last, and whether the loader is the limit."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="benchmarks/gpu.sh", description=DESCRIPTION)
    ap.add_argument("--cpu-smoke", action="store_true", help="every stage on CPU, tiny sizes")
    ap.add_argument("--n", type=int, help=f"JPEG files (default {FULL['n']})")
    ap.add_argument("--size", type=int, help=f"network input size (default {FULL['size']})")
    ap.add_argument("--jpeg", help=f"generated JPEG size WxH (default {FULL['jpeg']})")
    ap.add_argument("--batch", type=int, help=f"batch size (default {FULL['batch']})")
    ap.add_argument("--warmup", type=int, help="batches left out of each pass (default 3)")
    ap.add_argument("--passes", type=int, help="passes over the files per stage (default 2)")
    ap.add_argument("--workers", type=int, help="loader workers (default: visionfit's)")
    ap.add_argument("--model", help="timm model name (default resnet50)")
    ap.add_argument(
        "--precision",
        choices=("bf16", "32"),
        help="bf16 autocast (default) or float32; --cpu-smoke: bf16 where the CPU has it natively",
    )
    ap.add_argument("--data-dir", help="keep the generated JPEGs here and reuse them next time")
    args = ap.parse_args(argv)
    for key, value in (SMOKE if args.cpu_smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.model = args.model or (SMOKE_MODEL if args.cpu_smoke else "resnet50")
    if args.precision is None:  # emulated bf16 makes a CPU step 3-8x slower
        args.precision = "bf16" if not args.cpu_smoke or _cpu_bf16() else "32"
    if args.warmup < 1 or args.passes < 1 or args.batch < 2:
        ap.error("--warmup and --passes must be at least 1, --batch at least 2")
    return args


def _cpu_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (oneDNN's own check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def rate(
    epoch: Callable[[], Iterator], consume: Callable, *, passes: int, warmup: int, device: str
) -> float:
    """Images/s over `passes` calls of `epoch`, each leaving out its first `warmup` batches."""
    n, seconds = 0, 0.0
    for _ in range(passes):
        t0, counted = None, 0
        for i, (x, y) in enumerate(epoch()):
            consume(x, y)
            if i == warmup - 1:
                sync(device)
                t0 = time.perf_counter()
            elif i >= warmup:
                counted += len(x)
        sync(device)
        if t0 is not None and counted:
            seconds += time.perf_counter() - t0
            n += counted
    if not n:
        raise SystemExit(
            "gpu.sh: no batch left after the warm-up ones: give more files (--n) or a smaller "
            "--batch or --warmup"
        )
    return n / seconds


def _make_part(job: tuple) -> None:
    from _common import make_photo_dataset

    folder, n, size, seed = job
    make_photo_dataset(folder, n, size=size, seed=seed)


def make_jpegs(folder: Path, n: int, size: tuple[int, int]) -> tuple[Path, str]:
    """`n` JPEGs in folder/images/<class>/, generated in parallel, or those of an earlier run
    with the same `n` and size (folder/spec.txt says which)."""
    from concurrent.futures import ProcessPoolExecutor

    images, spec_file = folder / "images", folder / "spec.txt"
    spec = f"{n} {size[0]}x{size[1]}"
    if spec_file.exists() and spec_file.read_text() == spec and images.is_dir():
        return images, "reused"
    t0 = time.perf_counter()
    shutil.rmtree(images, ignore_errors=True)
    parts = max(1, min(os.cpu_count() or 1, n // 256))
    jobs = [(folder / f"part{i}", n // parts + (i < n % parts), size, i) for i in range(parts)]
    if parts == 1:
        _make_part(jobs[0])
    else:
        with ProcessPoolExecutor(parts) as pool:
            list(pool.map(_make_part, jobs))
    for i, job in enumerate(jobs):  # one folder per class; file names kept apart by part
        for f in sorted(job[0].rglob("*.jpg")):
            (images / f.parent.name).mkdir(parents=True, exist_ok=True)
            f.rename(images / f.parent.name / f"p{i}_{f.name}")
        shutil.rmtree(job[0])
    spec_file.write_text(spec)
    return images, f"generated in {time.perf_counter() - t0:.1f} s"


def file_list(images: Path) -> tuple[list[str], list[int]]:
    paths = sorted(str(p) for p in images.rglob("*.jpg"))
    classes = sorted({Path(p).parent.name for p in paths})
    return paths, [classes.index(Path(p).parent.name) for p in paths]


def pil_batches(paths, targets, args, device: str) -> Callable[[], Iterator]:
    """The tutorial's loader: PIL decode + torchvision transforms in `args.workers` workers."""
    from _gpu_decode import MEAN, STD
    from bench_train import TutorialDataset
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    size = args.size
    tf = T.Compose(
        [T.Resize((size, size)), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)]
    )
    loader = DataLoader(
        TutorialDataset({"image": paths, "target": targets}, tf),
        args.batch,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        pin_memory=device == "cuda",
    )
    return lambda: iter(loader)


def network(args, classes: int, device: str):
    """timm's network in channels-last and a bf16-autocast AdamW step (benchmarks/_gpu.py's)."""
    import timm
    from _gpu import _step_fn

    torch.manual_seed(0)
    model = timm.create_model(args.model, pretrained=False, num_classes=classes)
    model = model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    return model, _step_fn(model, opt, device, True, args.precision == "bf16")


@contextlib.contextmanager
def skip_report(skip: bool):
    """--cpu-smoke: no end-of-run HTML report and model card (after the measured steps; most of
    a tiny run's time on a loaded CPU). The GPU run writes them as `visionfit train` does."""
    import visionfit.engine.fit as fit_module

    kept = fit_module.run_finished
    if skip:
        fit_module.run_finished = lambda run_dir, notes: None
    try:
        yield
    finally:
        fit_module.run_finished = kept


def fit_rate(images: Path, runs: Path, args, cache: str, device: str) -> tuple[float, float]:
    """visionfit.fit's training images/s (the same rule: each epoch's first batches left out)
    and its start-up seconds (scan, split, decode-once cache, model) before the first step."""
    import lightning as L

    from visionfit.config import RunConfig
    from visionfit.engine.fit import fit

    class TrainRate(L.Callback):
        def __init__(self):
            self.n, self.seconds, self.t0, self.startup = 0, 0.0, None, float("nan")

        def on_train_start(self, trainer, pl_module):
            self.startup = time.perf_counter() - start

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == args.warmup - 1:
                sync(device)
                self.t0 = time.perf_counter()
            elif batch_idx >= args.warmup:
                self.n += len(batch[0])
            if batch_idx == trainer.num_training_batches - 1 and self.t0 is not None:
                sync(device)
                self.seconds += time.perf_counter() - self.t0
                self.t0 = None

    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(images), "val_fraction": 0.1, "workers": args.workers}
            | {"cache": cache, "near_duplicates": False},
            "model": {"name": args.model},
            "augment": {"img_size": args.size, "preset": "light", "resize": "squash"},
            "train": {"epochs": args.passes, "batch_size": args.batch, "seed": 0}
            | {
                "precision": "bf16-mixed" if args.precision == "bf16" else "32",
                "channels_last": True,
                "patience": None,
            }
            | {"bootstrap": 0, "checkpoint_minutes": None}
            | {"accelerator": "gpu" if device == "cuda" else "cpu"},
        }
    )
    cb = TrainRate()
    start = time.perf_counter()
    with skip_report(args.cpu_smoke):
        fit(cfg, progress=False, callbacks=[cb])
    if not cb.n:
        raise SystemExit("gpu.sh: visionfit's epochs had no batch after the warm-up ones: --n")
    return cb.n / cb.seconds, cb.startup


def no_cuda_line() -> str:
    return (
        f"gpu.sh: no CUDA device visible to torch {torch.__version__}: nothing measured "
        "(bash benchmarks/gpu.sh --cpu-smoke runs the same stages on the CPU at tiny sizes)"
    )


def loader_stages(images: Path, args, device: str) -> dict:
    """GPU only, plain loop, GPU decode and DALI: each end to end and its loader alone."""
    from _gpu_decode import dali_batches, gpu_decode_batches

    paths, targets = file_list(images)
    model, step = network(args, len(set(targets)), device)
    kw = {"passes": args.passes, "warmup": args.warmup, "device": device}
    steps = -(-len(paths) // args.batch)  # as many steps as one pass of the loaders
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (args.batch,), device=device)
    say("GPU only: one batch already on the device")
    r: dict = {"ceiling": rate(lambda: iter([(x, y)] * steps), step, **kw)}

    def idle(x, y):
        pass

    pil = pil_batches(paths, targets, args, device)
    say(f"plain loop: PIL decode in {args.workers} workers")
    r["plain"] = rate(pil, step, **kw)
    r["pil loader"] = rate(pil, idle, **kw)
    say(f"batched torchvision.io.decode_jpeg on {device}")
    gpu = gpu_decode_batches(
        paths, targets, size=args.size, batch=args.batch, workers=args.workers, device=device
    )
    r["gpu decode"] = rate(gpu, step, **kw)
    r["gpu decode loader"] = rate(gpu, idle, **kw)
    r["dali"] = r["dali loader"] = "needs CUDA"
    if device == "cuda":
        try:
            epoch = dali_batches(images, size=args.size, batch=args.batch, workers=args.workers)
            say("DALI")
            r["dali"] = rate(epoch, step, **kw)
            r["dali loader"] = rate(epoch, idle, **kw)
        except ImportError:
            r["dali"] = r["dali loader"] = "not installed"
        except Exception as e:  # DALI has not run here yet: its failure is a row, not the end
            r["dali loader"] = f"failed: {type(e).__name__}: {str(e)[:60]}"
            r["dali"] = r["dali"] if isinstance(r["dali"], float) else "failed"
    return r


def visionfit_stages(images: Path, runs: Path, args, device: str, r: dict) -> None:
    """visionfit's dataset alone (benchmarks/_gpu.py's loader), then fit with either cache."""
    from _gpu import _loader
    from _gpu_decode import MEAN, STD

    if device == "cuda":
        torch.cuda.empty_cache()
    say("loader only: visionfit's dataset (cv2 decode + albumentations)")
    loader = _loader(images, args.size, args.batch, args.workers, MEAN, STD)
    kw = {"passes": args.passes, "warmup": args.warmup, "device": device}
    r["visionfit loader"] = rate(lambda: iter(loader), lambda x, y: None, **kw)
    for cache in ("none", "auto"):
        say(f"visionfit fit --cache {cache}")
        r[f"visionfit {cache}"], r[f"startup {cache}"] = fit_rate(images, runs, args, cache, device)


def rows_of(r: dict, device: str, workers: int) -> list[list]:
    """(stage, img/s or why not, start-up seconds or None), in the table's order."""
    dec = f"batched decode_jpeg on {'the GPU (nvJPEG)' if device == 'cuda' else 'the CPU'}"
    return [
        ["GPU only: the batch already on the device (the ceiling)", r["ceiling"], None],
        [f"plain loop: PIL decode in {workers} workers", r["plain"], None],
        ["visionfit fit --cache none (decodes every epoch)", r["visionfit none"]]
        + [r["startup none"]],
        ["visionfit fit --cache auto (decoded once, in start-up)", r["visionfit auto"]]
        + [r["startup auto"]],
        [f"plain loop + {dec}", r["gpu decode"], None],
        ["plain loop + DALI mixed decode", r["dali"], None],
        ["loader only: PIL decode", r["pil loader"], None],
        ["loader only: visionfit's dataset (--cache none)", r["visionfit loader"], None],
        [f"loader only: {dec}", r["gpu decode loader"], None],
        ["loader only: DALI mixed decode", r["dali loader"], None],
    ]


def report(args, device: str, made: str, r: dict) -> str:
    from _common import table

    cells = []
    for label, value, startup in rows_of(r, device, args.workers):
        num = not isinstance(value, str)
        cells.append(
            [label, f"{value:,.0f}" if num else value, f"{value / r['plain']:.2f}" if num else ""]
            + [f"{startup:.1f}" if startup is not None else ""]
        )
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (--cpu-smoke)"
    steps = -(-args.n // args.batch)
    precision = "bf16 autocast" if args.precision == "bf16" else "float32"
    head = [
        f"# benchmarks/gpu.sh: {args.model} at {args.size} px, batch {args.batch}, {precision} "
        f"+ channels-last, AdamW; {name}, torch {torch.__version__}, {os.cpu_count()} CPUs",
        f"# {args.n} JPEGs {args.jpeg} ({made}), {args.workers} loader workers, {args.passes} "
        f"passes of up to {steps} batches, the first {args.warmup} of each left out; "
        "training img/s",
    ]
    cpu_loader = max(r["pil loader"], r["visionfit loader"])
    limit = "yes" if cpu_loader < 0.95 * r["ceiling"] else "no"
    pays = "yes" if r["gpu decode"] > 1.05 * r["plain"] else "no"
    auto = r["visionfit auto"]
    tail = [
        f"loader is the limit: {limit} (CPU JPEG decoding delivers at most {cpu_loader:,.0f} "
        f"img/s with {args.workers} workers; the device trains {r['ceiling']:,.0f} img/s)",
        f"GPU JPEG decode pays: {pays} (end to end {r['gpu decode']:,.0f} img/s against "
        f"{r['plain']:,.0f} for the plain loop)",
        f"visionfit --cache auto: {auto / r['plain']:.2f}x the plain loop, "
        f"{auto / r['ceiling']:.0%} of the ceiling",
    ]
    if args.cpu_smoke:
        tail.append("(--cpu-smoke: CPU at tiny sizes, the numbers say nothing about speed)")
    cols = ["stage", "img/s", "vs plain loop", "start-up s"]
    return "\n".join([*head, table(cols, cells), *tail])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = "cpu" if args.cpu_smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print(no_cuda_line())
        return 2
    if args.workers is None:
        from visionfit.engine.loaders import default_workers

        args.workers = default_workers()
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    w, h = (int(v) for v in args.jpeg.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="visionfit-gpu-") as tmp:
        folder = Path(args.data_dir or tmp)
        say(f"{args.n} JPEGs {args.jpeg} in {folder}")
        images, made = make_jpegs(folder, args.n, (w, h))
        r = loader_stages(images, args, device)
        visionfit_stages(images, Path(tmp) / "runs", args, device, r)
    print(report(args, device, made, r))
    print(f"# {time.perf_counter() - T0:.0f} s from torch imported to this line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
