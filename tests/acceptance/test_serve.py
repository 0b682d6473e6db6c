"""README: visionfit serve RUN [--host 127.0.0.1] [--port 8000] [--max-upload-mb 10]
[--workers-queue N] [--max-batch N] [--max-wait-ms MS] [--backend torch|onnx] -- the real
command in a subprocess, answered by a real HTTP client (and Debian's Chromium through
Playwright when it is installed)."""

from __future__ import annotations

import io
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

_CANDIDATES = (os.environ.get("VISIONFIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"))
CHROMIUM = next((p for p in _CANDIDATES if p and Path(p).is_file()), None)


@pytest.fixture(scope="module")
def served(vf_popen, ws, single_run, h):
    """`visionfit serve RUN --port P --max-upload-mb 0.05 --workers-queue 2 --max-batch 1` (one
    image at a time: at most 3 requests in the server), until /health."""
    port = h.free_port()
    cwd = ws / "serve"
    proc = vf_popen(
        "serve", single_run, "--host", "127.0.0.1", "--port", port, "--max-upload-mb", "0.05",
        "--workers-queue", "2", "--max-batch", "1", cwd=cwd, log="serve",
    )  # fmt: skip
    with h.serving(proc, port, cwd / "serve.err") as url:
        yield url


def _png(path: Path) -> bytes:
    return path.read_bytes()


def test_serve_answers_good_bad_and_oversized_uploads(served, shapes):
    image = next((shapes / "triangle").glob("*.png"))
    r = httpx.post(
        served + "/predict", files={"file": (image.name, _png(image), "image/png")}, timeout=60
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pred"] in ("circle", "square", "triangle")
    assert set(body["probs"]) == {"circle", "square", "triangle"}
    assert abs(sum(body["probs"].values()) - 1) < 1e-4 and body["top"]

    model = httpx.get(served + "/model", timeout=60).json()
    assert "classes" in str(model) and "triangle" in str(model)

    r = httpx.post(
        served + "/predict", files={"file": ("notes.txt", b"hello", "text/plain")}, timeout=60
    )
    assert r.status_code == 415, r.text

    data = _png(image)
    r = httpx.post(
        served + "/predict", files={"file": ("cut.png", data[: len(data) // 2])}, timeout=60
    )
    assert r.status_code == 422, r.text

    big = io.BytesIO(os.urandom(200_000))
    r = httpx.post(served + "/predict", files={"file": ("big.png", big, "image/png")}, timeout=60)
    assert r.status_code == 413, r.text

    page = httpx.get(served + "/", timeout=60)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(served + "/openapi.json").json()["paths"]["/predict"]


def test_serve_burst_refuses_with_503_and_stays_healthy(served, shapes):
    image = next((shapes / "circle").glob("*.png"))
    data = _png(image)

    def post(_):
        try:
            return httpx.post(
                served + "/predict", files={"file": ("c.png", data, "image/png")}, timeout=120
            ).status_code
        except httpx.HTTPError as e:
            return type(e).__name__

    with ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(post, range(48)))
    assert set(codes) <= {200, 503}, codes
    assert codes.count(200) >= 1
    health = httpx.get(served + "/health", timeout=10)
    assert health.status_code == 200
    r = httpx.post(served + "/predict", files={"file": ("c.png", data, "image/png")}, timeout=60)
    assert r.status_code == 200


def test_serve_page_in_chromium(served, shapes, ws):
    """The served page rendered and used in Debian's headless Chromium (Playwright)."""
    if CHROMIUM is None:
        pytest.skip("no Chromium browser at /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    image = next((shapes / "square").glob("*.png"))
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(served + "/")
            assert "simple_cnn" in page.text_content("header")
            page.set_input_files("#file", str(image))
            page.wait_for_selector("#result:not([hidden]) .bar")
            assert page.text_content("#pred").strip() in ("circle", "square", "triangle")
            page.screenshot(path=str(ws / "serve-page.png"), full_page=True)
        finally:
            browser.close()


def _post_all(url: str, payloads: list[bytes]) -> list[httpx.Response]:
    """Every payload at once from its own thread (released together by a barrier)."""
    barrier = threading.Barrier(len(payloads))

    def post(data):
        with httpx.Client(timeout=120) as c:
            barrier.wait(60)
            return c.post(url + "/predict", files={"file": ("x.png", data, "image/png")})

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return list(pool.map(post, payloads))


def test_serve_batches_concurrent_requests_and_onnx_agrees(
    served, vf_popen, ws, single_run, shapes, h
):
    """`visionfit serve RUN --max-batch 8 --max-wait-ms 1000 --backend onnx`: 12 concurrent
    uploads, one of them corrupt, share forward passes; every good one gets the answer a lone
    request gets from the torch server with --max-batch 1, the corrupt one its 422, nobody a
    503."""
    images = sorted(shapes.rglob("*.png"))[:11]
    payloads = [p.read_bytes() for p in images]
    payloads.insert(5, payloads[0][:200])  # a truncated PNG in the middle of a batch
    run = ws / "serve-onnx" / single_run.name  # onnx exports into RUN/export: a copy
    shutil.copytree(single_run, run)
    port = h.free_port()
    proc = vf_popen(
        "serve", run, "--port", port, "--max-batch", "8", "--max-wait-ms", "1000",
        "--workers-queue", "4", "--backend", "onnx", cwd=ws / "serve-onnx", log="serve",
    )  # fmt: skip
    with h.serving(proc, port, ws / "serve-onnx" / "serve.err") as url:
        answers = _post_all(url, payloads)
        health = httpx.get(url + "/health", timeout=10).json()
    codes = [r.status_code for r in answers]
    assert codes == [200] * 5 + [422] + [200] * 6, [r.text for r in answers]
    assert health["backend"] == "onnx" and health["capacity"] == 12
    assert 2 <= health["largest_recent_batch"] <= 8  # batched, never beyond --max-batch
    assert health["images_run"] == 11  # the corrupt upload never reached the model
    assert (run / "export" / "onnx" / "model.onnx").is_file()

    # the torch server with --max-batch 1, one request at a time, gives the same answers
    alone = [
        httpx.post(served + "/predict", files={"file": ("x.png", d, "image/png")}, timeout=60)
        for d in payloads[:5]
    ]
    assert httpx.get(served + "/health", timeout=10).json()["largest_recent_batch"] == 1
    for one, batched in zip(alone, answers[:5], strict=True):
        assert one.status_code == 200
        assert one.json()["pred"] == batched.json()["pred"]
        for c, p in one.json()["probs"].items():
            assert abs(batched.json()["probs"][c] - p) < 1e-4
