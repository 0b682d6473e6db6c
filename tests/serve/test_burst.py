"""A real uvicorn server under a burst of concurrent uploads, good and bad: every request gets
its proper answer (200, or 503 when the queue is full; 413/415/422 for bad input) and the
server keeps serving."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from PIL import Image


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_burst_of_mixed_uploads(server):
    url = server("multiclass", max_upload_bytes=50_000, max_batch=1, max_queue=2)
    good = _png(0)
    cases = [("good", good, {200, 503})] * 24 + [
        ("text", b"hello", {415, 503}),
        ("truncated", good[:200], {422, 503}),
        ("big", b"\0" * 80_000, {413}),
    ] * 4

    def send(case):
        name, data, allowed = case
        with httpx.Client(base_url=url, timeout=60) as c:
            r = c.post("predict", files={"file": (f"{name}.png", data, "image/png")})
        return name, r.status_code, allowed

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, cases))
    wrong = [(n, code) for n, code, allowed in results if code not in allowed]
    assert not wrong, wrong
    codes = [code for n, code, _ in results if n == "good"]
    assert 200 in codes  # some got through while others were refused or queued
    with httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("health").json()["in_flight"] == 0
        assert c.post("predict", files={"file": ("x.png", good, "image/png")}).status_code == 200
