"""A real HTTP server on a free local port for tests that talk to docloop over the network."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from docloop.api.app import create_app
from docloop.samples import PLATES
from docloop.services.context import AppContext, build_context
from docloop.worker.loop import Worker
from tests.conftest import _ENGINE, make_settings


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread; yields its base URL and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the test server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def serving_with_worker(ctx: AppContext, name: str) -> Iterator[str]:
    """``ctx``'s app on a free port with a worker thread running its jobs; yields the URL."""
    worker = Worker(ctx, name)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        with serving(create_app(ctx.settings, ctx=ctx)) as url:
            yield url
    finally:
        worker.stop()
        thread.join(30)


@contextmanager
def docloop_server(home: Path) -> Iterator[str]:
    """A live docloop with its worker running (key ``test-admin-key``), so trainings happen."""
    ctx = build_context(make_settings(home), ocr=_ENGINE)
    settings = ctx.settings.model_copy(update={"inprocess_worker": True})
    try:
        with serving(create_app(settings, ctx=ctx)) as url:
            yield url
    finally:
        ctx.close()


def plates_folder(root: Path, n: int) -> Path:
    """The first ``n`` bundled plate photos with their annotations, as a dataset folder."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for ann in sorted((PLATES / "annotations").glob("*.json"))[:n]:
        shutil.copy(ann, root / "annotations" / ann.name)
        shutil.copy(PLATES / "images" / f"{ann.stem}.jpg", root / "images")
    return root
