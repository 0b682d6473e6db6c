"""`visionfit serve RUN`: a local web page and JSON endpoint over any loaded run.

>>> from visionfit.serve.app import create_app, serve
>>> app = create_app(Path("runs/simple_cnn-20261122-101500"))   # an ASGI app (FastAPI)
>>> serve(Path("runs/simple_cnn-20261122-101500"), port=8000)    # uvicorn on 127.0.0.1:8000

Endpoints: `/` (the page), `POST /predict` (multipart field `file`), `GET /health`,
`GET /model`, `/docs` (OpenAPI). Limits: bodies over `max_upload_bytes` get 413 (checked on
Content-Length and on the bytes actually received); non-images 415, corrupt images and images
over `max_pixels` 422; images are decoded in a thread pool and concurrent ones predicted in one
forward pass of up to `max_batch` (waiting at most `max_wait_ms` for it to fill); at most
`max_batch` + `max_queue` requests are in the server, beyond that 503 at once.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from visionfit.serve._service import BadImage, Busy, Service
from visionfit.serve.docs import render_docs
from visionfit.serve.page import render_page


class _BodyLimit:
    """ASGI middleware: 413 for a declared or received body larger than the cap."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                return await self._reject(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        return await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"upload larger than the server's limit of {self.max_bytes:,} bytes"

    async def _reject(self, send):
        response = JSONResponse({"detail": self._message()}, status_code=413)
        await response({"type": "http"}, _no_receive, send)


async def _no_receive():  # pragma: no cover - a JSONResponse never reads the request
    return {"type": "http.disconnect"}


def create_app(
    run_dir: str | Path,
    *,
    max_upload_bytes: int = 10 << 20,
    max_pixels: int | None = None,
    max_queue: int = 8,
    max_batch: int = 16,
    max_wait_ms: float = 5.0,
    backend: str = "torch",
) -> FastAPI:
    """The FastAPI app serving one run (single, CV ensemble; loaded once, no pickle)."""
    service = Service(
        run_dir,
        max_upload_bytes=max_upload_bytes,
        max_pixels=max_pixels,
        max_queue=max_queue,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        backend=backend,
    )

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await service.close()

    app = FastAPI(
        title=f"visionfit: {service.run_dir.name}",
        description=f"{service.task} model; classes: {', '.join(service.classes)}",
        version="1",
        docs_url="/swagger",  # Swagger UI needs its CDN; /docs below works offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(_BodyLimit, max_bytes=max_upload_bytes)
    _add_pages(app, service)
    _add_predict(app, service)
    return app


def _add_pages(app: FastAPI, service: Service) -> None:
    page = render_page(service.info())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))

    @app.get("/health", summary="liveness and queue occupancy")
    async def health() -> dict:
        b = service.batcher
        return {"status": "ok", "task": service.task, "backend": service.backend,
                "in_flight": b.admitted, "capacity": b.capacity, "max_batch": b.max_batch,
                "largest_recent_batch": max(b.batches, default=0),
                "batches_run": b.batches_run, "images_run": b.images_run}  # fmt: skip

    @app.get("/model", summary="task, classes, input size and preprocessing of the served model")
    async def model() -> dict:
        return service.info()


def _add_predict(app: FastAPI, service: Service) -> None:
    @app.post(
        "/predict",
        summary="predict one image (multipart field 'file')",
        responses={
            413: {"description": "upload larger than the cap"},
            415: {"description": "not an image, or a format that is not read"},
            422: {"description": "corrupt or truncated image, too many pixels, or no file"},
            503: {"description": "inference queue full; retry"},
        },
    )
    async def predict(file: UploadFile = File(..., description="an image file")) -> JSONResponse:
        data = await file.read()
        try:
            async with service.batcher.admit() as ticket:
                loop = asyncio.get_running_loop()
                prepared = await loop.run_in_executor(service.decoders, service.prepare, data)
                result = await service.batcher.submit(prepared, ticket)
        except Busy:
            return JSONResponse(
                {"detail": "server busy: inference queue is full, retry shortly"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        except BadImage as e:
            return JSONResponse({"detail": e.message}, status_code=e.status)
        return JSONResponse({"filename": file.filename, **result})


def serve(
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_upload_mb: float = 10.0,
    max_pixels: int | None = None,
    max_queue: int = 8,
    max_batch: int = 16,
    max_wait_ms: float = 5.0,
    backend: str = "torch",
) -> None:
    """Serve the run with uvicorn (127.0.0.1 unless told otherwise); blocks until stopped.
    The limits are the CLI's own units (MB); `create_app` takes bytes."""
    import uvicorn

    app = create_app(
        run_dir,
        max_upload_bytes=int(max_upload_mb * (1 << 20)),
        max_pixels=max_pixels,
        max_queue=max_queue,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        backend=backend,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
