"""The HTTP contract: 200 / 413 / 415 / 422 / 503, the page, /model, /health, /docs."""

from __future__ import annotations

import base64
import io
import re
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import visionfit
from visionfit.errors import VisionfitError
from visionfit.serve.app import create_app


def png_bytes(size=(32, 32), seed=0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def upload(client, data: bytes, name="x.png", ctype="image/png"):
    return client.post("/predict", files={"file": (name, data, ctype)})


@pytest.fixture(scope="module")
def image_path(tiny_run):
    run = tiny_run("multiclass")
    return next(p for p in (run.parents[2] / "data" / "shapes" / "square").glob("*.png"))


@pytest.fixture(scope="module")
def client(tiny_run):
    app = create_app(tiny_run("multiclass"), max_upload_bytes=100_000, max_pixels=128 * 128)
    with TestClient(app) as c:
        yield c


def test_predict_matches_the_library(client, tiny_run, image_path):
    r = upload(client, image_path.read_bytes(), name=image_path.name)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = visionfit.load(tiny_run("multiclass")).predict([str(image_path)]).iloc[0]
    assert body["pred"] == expected["pred"] and body["filename"] == image_path.name
    assert sum(body["probs"].values()) == pytest.approx(1, abs=1e-5)
    for c, p in body["probs"].items():
        assert p == pytest.approx(expected[f"prob_{c}"], abs=1e-6)
    assert [t["class"] for t in body["top"]][0] == body["pred"]
    assert body["size"] == [32, 32] and body["view"] == "classes"


def test_413_on_declared_and_on_streamed_size(client):
    r = upload(client, b"\0" * 200_000)  # Content-Length says too much
    assert r.status_code == 413 and "100,000 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the cap holds on the bytes received
        for _ in range(30):
            yield b"x" * 10_000

    r = client.post(
        "/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 413
    assert upload(client, png_bytes()).status_code == 200  # and it keeps serving


def test_non_images_and_broken_images(client):
    r = upload(client, b"just some text\n", name="notes.txt", ctype="text/plain")
    assert r.status_code == 415 and "not an image" in r.json()["detail"]
    good = png_bytes()
    r = upload(client, good[: len(good) // 2])
    assert r.status_code == 422 and "truncated" in r.json()["detail"]
    r = upload(client, b"", name="empty.png")
    assert r.status_code == 422 and "zero bytes" in r.json()["detail"]
    r = client.post("/predict", data={"nothing": "here"})
    assert r.status_code == 422  # no file field


def test_pixel_cap_422(client):
    r = upload(client, png_bytes((200, 100)))
    assert r.status_code == 422 and "too many pixels" in r.json()["detail"]


def test_model_health_docs_and_page(client):
    info = client.get("/model").json()
    assert info["task"] == "multiclass" and info["classes"] == ["circle", "square", "triangle"]
    assert info["img_size"] == 32 and info["max_pixels"] == 128 * 128
    assert client.get("/health").json()["status"] == "ok"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/predict" in docs.text and "curl -F file=@" in docs.text
    assert "503" in docs.text and not re.search(r'(src|href)="(https?:)?//', docs.text)
    assert client.get("/swagger").status_code == 200  # Swagger UI, for online use
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    page = client.get("/").text
    assert "simple_cnn" in page and "circle, square, triangle" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external resource


def test_full_queue_answers_503_at_once_and_recovers(tiny_run):
    app = create_app(tiny_run("multiclass"), max_batch=1, max_queue=1)
    service = app.state.service
    release, started = threading.Event(), threading.Event()
    real_infer = service.infer_batch

    def blocked(items):
        started.set()
        assert release.wait(30)
        return real_infer(items)

    service.batcher.run_batch = blocked
    results = []
    with TestClient(app) as c:
        workers = [
            threading.Thread(target=lambda: results.append(upload(c, png_bytes()).status_code))
            for _ in range(2)
        ]
        for w in workers:
            w.start()
        assert started.wait(30)
        deadline = time.monotonic() + 30
        while c.get("/health").json()["in_flight"] < 2:  # one running, one queued
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # refused at once, not queued: a queued request would wait for `release`, set below
        r = upload(c, png_bytes())
        assert r.status_code == 503 and "busy" in r.json()["detail"]
        release.set()
        for w in workers:
            w.join(30)
        assert results == [200, 200]
        assert upload(c, png_bytes()).status_code == 200
        assert c.get("/health").json()["in_flight"] == 0


def test_segmentation_run_returns_mask_and_rle(tiny_run):
    run = tiny_run("segment")
    image = next((run.parents[2] / "data" / "seg" / "images").glob("*.png"))
    with TestClient(create_app(run)) as c:
        r = upload(c, image.read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    masks = visionfit.load(run).predictions([str(image)]).masks
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["mask_png"])))) > 0
    assert (mask == (masks[0] > 0)).all()
    assert body["foreground_share"] == pytest.approx(float((masks[0] > 0).mean()))
    assert isinstance(body["rle"], str) and body["size"] == list(mask.shape[::-1])
    assert body["view"] == "mask" and body["task"] == "segment"


def test_cv_run_serves_its_fold_ensemble(tiny_run):
    run = tiny_run("cv")
    with TestClient(create_app(run)) as c:
        info = c.get("/model").json()
        r = upload(c, png_bytes())
    assert info["members"] == ["fold_0", "fold_1", "fold_2"]
    assert r.status_code == 200 and set(r.json()["probs"]) == {"circle", "square"}


def test_baseline_run_is_served_or_refused_with_a_reason(tiny_run):
    run = tiny_run("baseline")
    try:
        app = create_app(run)
    except VisionfitError as e:  # until the baseline keeps a (skops) model
        assert "baseline" in str(e)
        return
    with TestClient(app) as c:
        assert upload(c, png_bytes()).status_code == 200


def test_limits_are_validated(tiny_run):
    with pytest.raises(ValueError, match="max_batch"):
        create_app(tiny_run("multiclass"), max_batch=0)
