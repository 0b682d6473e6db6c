"""README: visionfit serve RUN [--host 127.0.0.1] [--port 8000] [--max-upload-mb 10]
[--workers-queue N] -- the real command in a subprocess, answered by a real HTTP client (and
Debian's Chromium through Playwright when it is installed)."""

from __future__ import annotations

import io
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

_CANDIDATES = (os.environ.get("VISIONFIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"))
CHROMIUM = next((p for p in _CANDIDATES if p and Path(p).is_file()), None)


@pytest.fixture(scope="module")
def served(vf_popen, ws, single_run, h):
    """`visionfit serve RUN --port P --max-upload-mb 0.05 --workers-queue 2`, until /health."""
    port = h.free_port()
    cwd = ws / "serve"
    proc = vf_popen(
        "serve", single_run, "--host", "127.0.0.1", "--port", port, "--max-upload-mb", "0.05",
        "--workers-queue", "2", cwd=cwd, log="serve",
    )  # fmt: skip
    with h.serving(proc, port, cwd / "serve.err") as url:
        yield url


def _png(path: Path) -> bytes:
    return path.read_bytes()


def test_serve_answers_good_bad_and_oversized_uploads(served, shapes):
    image = next((shapes / "triangle").glob("*.png"))
    r = httpx.post(served + "/predict", files={"file": (image.name, _png(image), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pred"] in ("circle", "square", "triangle")
    assert set(body["probs"]) == {"circle", "square", "triangle"}
    assert abs(sum(body["probs"].values()) - 1) < 1e-4 and body["top"]

    model = httpx.get(served + "/model").json()
    assert "classes" in str(model) and "triangle" in str(model)

    r = httpx.post(served + "/predict", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert r.status_code == 415, r.text

    data = _png(image)
    r = httpx.post(served + "/predict", files={"file": ("cut.png", data[: len(data) // 2])})
    assert r.status_code == 422, r.text

    big = io.BytesIO(os.urandom(200_000))
    r = httpx.post(served + "/predict", files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413, r.text

    page = httpx.get(served + "/")
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
