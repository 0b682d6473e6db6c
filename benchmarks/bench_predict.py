"""Prediction speed: eager PyTorch vs ONNX Runtime vs TorchScript; `visionfit predict` end to end.

1. Graph throughput (images/s at batch 1 and 64) of the same probability module three ways, for
   a classifier and a segmenter: tiny runs trained here (1 epoch; weights do not matter for
   speed) or your own with --cls-run / --seg-run. Inputs are ready tensors: this is the network.
2. `visionfit predict` end to end on a folder of --n generated PNGs (decode, resize, batch,
   probabilities, CSV), in a child process per backend, with its wall time and peak RSS; a
   second run on a tenth of the images shows whether memory grows with N (streamed: it must not,
   beyond the N-row result table).
3. --device cuda: resnet50 at 224 px on the GPU, fp32 vs channels-last vs bf16 autocast vs
   torch.compile, and whether the loader (decode of real JPEGs) or the GPU is the limit.

    python benchmarks/bench_predict.py [--n 10000] [--threads 2] [--cls-run RUN] [--seg-run RUN]
    python benchmarks/bench_predict.py --device cuda [--n 2000]

Run it alone on the machine: timings on a shared machine mean nothing. Exports for part 1 go to
a temporary folder; the end-to-end ONNX run exports into RUN/export/onnx/ when it is missing,
as `predict --backend onnx` does.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset
from visionfit.inference.backends import OnnxProbabilities
from visionfit.inference.export import export_run, probability_module


def train_tiny(root: Path, kind: str, model: str, size: int, device: str) -> Path:
    """A 1-epoch run on a few generated images: a real run directory to export and load."""
    if kind == "segment":
        data = {"path": str(make_segmentation_dataset(root / "d", 24, size=size)), "task": kind}
        extra = {"segment": {"arch": "unet", "encoder": model, "tune_postprocess": False}}
    else:
        data = {"path": str(make_shapes_dataset(root / "d", n_per_class=8, size=size))}
        extra = {"model": {"name": model}}
    cfg = {
        "runs_dir": str(root / "runs"),
        "data": {**data, "workers": 0},
        "augment": {"preset": "none", "img_size": size},
        "train": {"epochs": 1, "batch_size": 8, "patience": None},
        **extra,
    }
    if device == "cpu":
        cfg["train"]["accelerator"] = "cpu"
    return visionfit.fit(RunConfig.from_dict(cfg), progress=False).run_dir


def images_per_s(fn, x: torch.Tensor, min_s: float, min_iters: int = 3) -> float:
    """Throughput after two warm-up calls: at least `min_iters` calls and `min_s` seconds."""
    for _ in range(2):
        fn(x)
    n, t0 = 0, time.perf_counter()
    while n < min_iters or time.perf_counter() - t0 < min_s:
        fn(x)
        n += 1
    return n * len(x) / (time.perf_counter() - t0)


def graph_rows(run: Path, label: str, tmp: Path, args) -> list[list[str]]:
    """Eager, ONNX Runtime and TorchScript images/s at each batch size, for one run."""
    module = probability_module(visionfit.load(run))
    onnx = OnnxProbabilities(export_run(run, "onnx", tmp / f"{label}-onnx").model_path)
    ts_path = export_run(run, "torchscript", tmp / f"{label}-ts").model_path
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice
        warnings.simplefilter("ignore")
        ts = torch.jit.load(str(ts_path)).eval()
    meta = visionfit.load(run).meta
    rows = []
    for bs in args.batches:
        x = torch.randn(bs, meta["in_chans"], meta["img_size"], meta["img_size"])
        with torch.inference_mode():
            eager = images_per_s(module, x, args.seconds)
            script = images_per_s(ts, x, args.seconds)
        ort_rate = images_per_s(onnx, x, args.seconds)
        name = f"{label} {meta.get('arch')} {meta['img_size']}px"
        rows.append(
            [name, str(bs), f"{eager:.0f}", f"{ort_rate:.0f}", f"{script:.0f}"]
            + [f"{ort_rate / eager:.2f}x", f"{script / eager:.2f}x"]
        )
    return rows


# Each end-to-end run is a fresh process. Its peak RSS is read from /proc/self/status (VmHWM)
# inside it: ru_maxrss of a child also counts the parent's pages copied at fork.
E2E_CHILD = """
import sys, time
mode, args = sys.argv[1], sys.argv[2:]
try:
    if mode == "cli":
        sys.argv = ["visionfit", *args]
        from visionfit.cli import main
        main()
    else:
        import visionfit
        from visionfit.inference.predict import expand_inputs
        run, folder, backend, out = args
        p = visionfit.load(run, backend=backend)
        p.predict(expand_inputs([folder]), batch_size=64).to_csv(out, index=False)
finally:
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0].split()[1]
    print("VMHWM_KIB", hwm, flush=True)
"""


def run_child(args: list[str], env: dict, log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one end-to-end prediction in a fresh process."""
    cmd = [sys.executable, "-c", E2E_CHILD, *args]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    text = log.read_text()
    if code != 0:
        raise SystemExit(f"{shlex.join(args)} failed:\n{text[-2000:]}")
    kib = [ln.split()[1] for ln in text.splitlines() if ln.startswith("VMHWM_KIB")][-1]
    return wall, int(kib) / 1024


def cli_supports_backend(env: dict) -> bool:
    cmd = [sys.executable, "-c", "from visionfit.cli import main; main()", "predict", "--help"]
    return "--backend" in subprocess.run(cmd, env=env, capture_output=True, text=True).stdout


def e2e_rows(run: Path, folder: Path, n: int, tmp: Path, args) -> list[list[str]]:
    """Per backend: N/10 images, then N; the difference gives the rate without start-up
    (imports, loading, the on-the-fly ONNX export) and whether memory grows with N."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    with_backend = cli_supports_backend(env)
    small = tmp / "small"
    small.mkdir(exist_ok=True)
    files = sorted(folder.rglob("*.png"))
    for p in files[: max(10, n // 10)]:
        (small / p.name).symlink_to(p)
    n_small = sum(1 for _ in small.iterdir())
    rows = []
    for backend in ("torch", "onnx"):
        results = []
        for src in (small, folder):
            out = tmp / f"pred-{backend}-{src.name}.csv"
            if with_backend or backend == "torch":
                child = ["cli", "predict", str(run), str(src), "--out", str(out)]
                child += ["--backend", backend] if with_backend else []
                how = "visionfit predict"
            else:  # until the CLI has --backend: what it will call
                child, how = ["api", str(run), str(src), backend, str(out)], "load(backend).predict"
            results.append(run_child(child, env, out.with_suffix(".log")))
        (wall_small, rss_small), (wall, rss) = results
        marginal = (len(files) - n_small) / max(wall - wall_small, 1e-9)
        rows.append(
            [f"{how} ({backend})", str(len(files)), f"{len(files) / wall:.0f}", f"{marginal:.0f}"]
            + [f"{wall:.1f}", f"{rss:.0f}", f"{rss - rss_small:+.0f}"]
        )
    return rows


def cuda_rows(tmp: Path, args) -> list[list[str]]:
    """resnet50 at 224 px on the GPU: fp32, channels-last, bf16 autocast, compile; loader rate."""
    run = args.cls_run or train_tiny(tmp / "r50", "classify", "resnet50", 224, "cuda")
    pred = visionfit.load(run)
    net = probability_module(pred).cuda()
    x = torch.randn(64, 3, 224, 224, device="cuda")
    rows = []

    def measure(name: str, model, inp: torch.Tensor, bf16: bool) -> None:
        def step(t):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                model(t)
            torch.cuda.synchronize()

        with torch.inference_mode():
            rate = images_per_s(step, inp, args.seconds)
        rows.append([f"resnet50 224px GPU {name}", "64", f"{rate:.0f}"])

    measure("fp32", net, x, False)
    net = net.to(memory_format=torch.channels_last)  # in place: fp32 is measured before
    xc = x.contiguous(memory_format=torch.channels_last)
    measure("channels-last", net, xc, False)
    measure("channels-last + bf16 autocast", net, xc, True)
    compiled = torch.compile(net)
    measure("channels-last + bf16 + compile", compiled, xc, True)
    rows += loader_rows(tmp, pred, compiled, args, gpu_best=max(float(r[2]) for r in rows))
    return rows


def loader_rows(tmp: Path, pred, model, args, gpu_best: float) -> list[list[str]]:
    """Decode + resize of 480 px JPEGs alone, then feeding the GPU: which one is the limit."""
    from torch.utils.data import DataLoader

    from visionfit.inference.predict import _PredictDataset

    jpegs = make_shapes_dataset(tmp / "jpg", n_per_class=max(1, args.n // 3), size=480, ext=".jpg")
    items = sorted(jpegs.rglob("*.jpg"))
    ds = _PredictDataset(items, pred.transform, 3, 224)
    loader = DataLoader(ds, batch_size=64, num_workers=args.workers, pin_memory=True)
    t0 = time.perf_counter()
    for _batch, _err in loader:
        pass
    load_rate = len(items) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for batch, _err in loader:
            xb = batch.cuda(non_blocking=True).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                model(xb)
        torch.cuda.synchronize()
    e2e = len(items) / (time.perf_counter() - t0)
    limit = "the loader" if load_rate < gpu_best else "the GPU"
    return [
        [f"loader alone: {len(items)} JPEGs 480px -> 224, {args.workers} workers", "64"]
        + [f"{load_rate:.0f}"],
        [f"loader -> GPU (bf16, channels-last, compiled); limit: {limit}", "64", f"{e2e:.0f}"],
    ]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="images for the end-to-end predict")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum time per measurement")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--cls-run", type=Path, help="a classification run (default: train one)")
    ap.add_argument("--seg-run", type=Path, help="a segmentation run (default: train one)")
    ap.add_argument("--cls-model", default="resnet18")
    ap.add_argument("--cls-size", type=int, default=64)
    ap.add_argument("--seg-encoder", default="resnet18")
    ap.add_argument("--seg-size", type=int, default=64)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--workers", type=int, default=4, help="--device cuda: loader workers")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs\n")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.device == "cuda":
            print(table(["GPU", "batch", "images/s"], cuda_rows(tmp, args)))
            return
        cls = args.cls_run or train_tiny(
            tmp / "c", "classify", args.cls_model, args.cls_size, "cpu"
        )
        seg = args.seg_run or train_tiny(
            tmp / "s", "segment", args.seg_encoder, args.seg_size, "cpu"
        )
        rows = graph_rows(cls, "classifier", tmp, args) + graph_rows(seg, "segmenter", tmp, args)
        head = ["network (probabilities)", "batch", "eager/s", "onnxrt/s", "torchscript/s"]
        print(table([*head, "ort/eager", "ts/eager"], rows))
        meta = visionfit.load(cls).meta
        folder = make_shapes_dataset(
            tmp / "pred", n_per_class=-(-args.n // 3), size=meta["img_size"]
        )
        e2e = e2e_rows(cls, folder, args.n, tmp, args)
        head = ["end to end (classifier)", "images", "images/s", "w/o start-up", "seconds"]
        print("\n" + table([*head, "peak RSS MiB", "RSS - at N/10"], e2e))


if __name__ == "__main__":
    main()
