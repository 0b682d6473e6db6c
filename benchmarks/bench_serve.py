"""`visionfit serve` under load: requests/s and latency with batching on and off, torch and ONNX.

Trains a tiny classifier on generated 28 px images (or takes --run), starts the real
`visionfit serve` as a subprocess on a free port for each backend and batching setting, and runs
a load generator against it: N concurrent clients (asyncio streams, keep-alive), each sending
its next upload when the previous one is answered, for --seconds per row after a short warm-up.
A 503 counts as an answer (the client goes on at once) and is counted apart; requests/s counts
the 200s only; the mean batch is the images per forward pass over the row (warm-up included).
The last lines give, at 16 clients, batching on against `--max-batch 1`.

    python benchmarks/bench_serve.py [--run RUN] [--clients 1,4,16,64] [--seconds 10]
        [--backends torch,onnx] [--max-batch 16] [--max-wait-ms 5] [--queue 64]
    python benchmarks/bench_serve.py --quick      # seconds: torch only, 1 and 16 clients

Run it alone on the machine: the clients share the server's cores, and timings on a shared
machine mean nothing. A server holds at most max batch + --workers-queue requests (its
capacity; 24 and 9 with the defaults) and refuses more with 503 at once: clients beyond it get
503s, as users of that setting would. `--queue 64` gives every server room for 64 clients, to
compare the two settings without refusals (a 503 within the capacity is a bug). The ONNX rows
export the run into RUN/export/onnx/ when it is missing, as `predict --backend onnx` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import command_line  # noqa: E402


def train_tiny(root: Path, size: int, model: str = "simple_cnn") -> Path:
    """A 1-epoch `model` on a few generated images: a real run directory to serve."""
    import visionfit
    from visionfit.config import RunConfig
    from visionfit.data.synthetic import make_shapes_dataset

    data = make_shapes_dataset(root / "data", n_per_class=8, size=size)
    cfg = {
        "runs_dir": str(root / "runs"),
        "data": {"path": str(data), "workers": 0},
        "model": {"name": model, "pretrained": False},
        "augment": {"preset": "none", "img_size": size},
        "train": {"epochs": 1, "batch_size": 8, "patience": None, "accelerator": "cpu"},
    }
    return visionfit.fit(RunConfig.from_dict(cfg), progress=False).run_dir


def sample_images(root: Path, size: int) -> list[bytes]:
    """Generated PNG uploads (12 distinct images)."""
    from visionfit.data.synthetic import make_shapes_dataset

    folder = make_shapes_dataset(root / "uploads", n_per_class=4, size=size, seed=7)
    return [p.read_bytes() for p in sorted(folder.rglob("*.png"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def visionfit_command() -> list[str]:
    exe = shutil.which("visionfit") or str(Path(sys.executable).parent / "visionfit")
    return [exe]


class Server:
    """`visionfit serve RUN --port P ...` until /health answers; SIGTERM on exit."""

    def __init__(self, run: Path, log_dir: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.err = log_dir / f"serve-{self.port}.err"
        cmd = [*visionfit_command(), "serve", str(run), "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self.err.open("w"), env=dict(os.environ)
        )

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited {self.proc.returncode}:\n{self.err.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("serve did not answer /health")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def multipart_request(port: int, data: bytes) -> bytes:
    """One `POST /predict` with `data` as the multipart field `file`, as bytes on the wire."""
    boundary = b"visionfit-bench-boundary"
    body = b"".join([
        b"--", boundary, b'\r\nContent-Disposition: form-data; name="file"; filename="x.png"',
        b"\r\nContent-Type: image/png\r\n\r\n", data, b"\r\n--", boundary, b"--\r\n",
    ])  # fmt: skip
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(conn: list, port: int, request: bytes) -> int:
    """Send one request on the client's keep-alive connection (opened when there is none) and
    read the whole response; its status code."""
    if not conn:
        conn.extend(await asyncio.open_connection("127.0.0.1", port))
    reader, writer = conn
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = dict(ln.split(b":", 1) for ln in lines[1:] if b":" in ln)
    headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
    await reader.readexactly(int(headers.get(b"content-length", b"0")))
    if headers.get(b"connection", b"").lower() == b"close":
        writer.close()
        conn.clear()
    return status


async def load(url: str, uploads: list[bytes], clients: int, seconds: float, warmup: float):
    """Each client: post, wait for the answer, post the next, on its own keep-alive connection;
    answers to requests sent in the first `warmup` seconds are not counted. Returns (latencies
    of 200s in seconds, 503 count, other failures, measured seconds).

    The requests are prepared bytes on raw asyncio streams, not an HTTP client library: the
    generator shares the server's cores, and httpx spent more CPU per request than the server's
    own HTTP handling, so it measured itself."""
    port = int(url.rsplit(":", 1)[1])
    requests = [multipart_request(port, data) for data in uploads]
    latencies: list[float] = []
    counts = {"503": 0, "other": 0}
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + seconds

    async def client(k: int) -> None:
        i, conn = k, []
        try:
            while (now := time.perf_counter()) < end:
                request = requests[i % len(requests)]
                i += clients
                try:
                    code = await _exchange(conn, port, request)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    code = -1
                    if conn:
                        conn[1].close()
                        conn.clear()
                done = time.perf_counter()
                if now < measure_from:
                    continue
                if code == 200:
                    latencies.append(done - now)
                else:
                    counts["503" if code == 503 else "other"] += 1
        finally:
            if conn:
                conn[1].close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    measured = time.perf_counter() - measure_from
    return latencies, counts["503"], counts["other"], measured


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, help="serve this run (default: train a tiny one)")
    ap.add_argument("--clients", default="1,4,16,64", help="concurrent clients per row")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per row")
    ap.add_argument("--backends", default="torch,onnx")
    ap.add_argument("--max-batch", type=int, default=16, help="the batching rows' --max-batch")
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument(
        "--queue", type=int, help="every server's --workers-queue (default: the server's, 8)"
    )
    ap.add_argument("--size", type=int, default=28, help="image size of the tiny run")
    ap.add_argument(
        "--model",
        default="simple_cnn",
        help="the tiny run's network (resnet18: a model whose forward pass, not HTTP, is the cost)",
    )
    ap.add_argument("--quick", action="store_true", help="seconds: torch, 1 and 16 clients")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.seconds, args.backends = "1,16", 2.0, "torch"
    clients = [int(c) for c in args.clients.split(",")]
    backends = args.backends.split(",")
    warmup = min(2.0, max(0.5, args.seconds / 4))

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        run = args.run or train_tiny(root, args.size, args.model)
        uploads = sample_images(root, args.size)
        print(f"# {command_line()}\n# run: {run}; {len(uploads)} distinct PNG uploads")
        print(f"# {os.cpu_count()} CPUs; rows: {args.seconds:g} s measured after {warmup:g} s")
        head = "| backend | max batch | capacity | clients | requests/s | p50 ms | p99 ms | 503s |"
        print(head + " failed | mean batch |\n" + "| --- " * 10 + "|", flush=True)
        rows: dict[tuple[str, int, int], tuple[float, float]] = {}
        for backend in backends:
            for max_batch in (args.max_batch, 1):
                server_args = [
                    "--backend", backend, "--max-batch", str(max_batch),
                    "--max-wait-ms", str(args.max_wait_ms),
                    *(["--workers-queue", str(args.queue)] if args.queue is not None else []),
                ]  # fmt: skip
                with Server(run, root, *server_args) as server:
                    asyncio.run(load(server.url, uploads, 4, 0.0, warmup))  # first requests
                    for n in clients:
                        before = httpx.get(server.url + "/health").json()
                        lat, busy, failed, secs = asyncio.run(
                            load(server.url, uploads, n, args.seconds, warmup)
                        )
                        after = httpx.get(server.url + "/health").json()
                        batches = after["batches_run"] - before["batches_run"]
                        mean = (after["images_run"] - before["images_run"]) / max(batches, 1)
                        rps, p50, p99 = len(lat) / secs, percentile(lat, 50), percentile(lat, 99)
                        rows[backend, max_batch, n] = (rps, p99)
                        print(
                            f"| {backend} | {max_batch} | {after['capacity']} | {n} | {rps:.1f} | "
                            f"{p50 * 1e3:.1f} | "
                            f"{p99 * 1e3:.1f} | {busy} | {failed} | {mean:.1f} |",
                            flush=True,
                        )
        for backend in backends:
            on, off = rows.get((backend, args.max_batch, 16)), rows.get((backend, 1, 16))
            if on and off and off[0] > 0:
                print(
                    f"# {backend}, 16 clients: batching {on[0] / off[0]:.2f}x the requests/s of "
                    f"--max-batch 1; p99 {on[1] * 1e3:.1f} ms vs {off[1] * 1e3:.1f} ms"
                )


if __name__ == "__main__":
    main()
