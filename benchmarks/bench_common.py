"""What the benchmarks share: sample models, unique request bytes, a server, a memory probe."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from PIL import Image

from docloop.config import Settings
from docloop.samples import PLATES
from docloop.services import auth, datasets, models, training
from docloop.services.context import build_context
from docloop.worker.loop import Worker

KEY = "bench-key-123"
HEADERS = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}


def unique_jpeg(path: Path, salt: int) -> bytes:
    """The same pixels with the salt in a JPEG comment: a new content hash, the same OCR work.

    (Salting a pixel instead made 12 of 292 payloads identical: JPEG's quantization absorbed
    some changes, and those requests were answered from the OCR cache.)
    """
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "JPEG", quality=95, comment=f"docloop {salt}")
    return buf.getvalue()


def train_sample_models(home: Path, n: int) -> list[str]:
    """n plate models, each trained on 16 photos of the bundled sample, in ``home``."""
    ctx = build_context(Settings(home=home, bootstrap_api_key=KEY, inprocess_worker=False))
    who = auth.authenticate(ctx, KEY)
    ids = []
    for _ in range(n):
        model = models.create_model(ctx, who, categories=["number_plate"])
        for ann in sorted((PLATES / "annotations").glob("*.json"))[:16]:
            img = PLATES / "images" / f"{ann.stem}.jpg"
            data = [{"filename": img.name, "object": json.loads(ann.read_text())}]
            datasets.add_files(
                ctx, who, model.id, [datasets.IncomingFile(img.name, img.read_bytes())], data
            )
        training.request_training(ctx, who, model.id)
        ids.append(model.id)
    Worker(ctx).run(burst=True)
    ctx.close()
    return ids


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    startup_s: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(home: Path, *, worker: bool) -> Iterator[Server]:
    """`docloop serve` on ``home`` in a subprocess, once it answers /healthz."""
    port = _free_port()
    env = {**os.environ, "DOCLOOP_HOME": str(home), "DOCLOOP_BOOTSTRAP_API_KEY": KEY}
    command = [sys.executable, "-m", "docloop.cli", "serve", "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--worker" if worker else "--no-worker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"docloop serve exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.02)
        yield Server(url, process, time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=60)


class PeakMemory:
    """Samples the resident memory of a process and its children in the background.

    The list of children is refreshed once a second only: finding them scans every process on
    the machine, and at every sample that took enough CPU to slow the server it measures.
    """

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        procs: list[psutil.Process] = []
        listed = 0.0
        while not self._stop.wait(0.1):
            try:
                if time.monotonic() - listed > 1.0:
                    procs = [self.process, *self.process.children(recursive=True)]
                    listed = time.monotonic()
                self.peak = max(self.peak, sum(_rss(p) for p in procs))
            except psutil.NoSuchProcess:
                if not self.process.is_running():
                    return
                listed = 0.0  # a child ended: list them again

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _rss(process: psutil.Process) -> int:
    return int(process.memory_info().rss)
