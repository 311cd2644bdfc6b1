"""Server overhead: median LabelFile latency through a running server vs the OCR engine alone.

Trains a small plate model on the bundled sample in a temporary home, starts `docloop serve` in a
subprocess, then times LabelFile over HTTP and the engine directly on the same images. The OCR
cache is defeated by making each request's bytes unique, so the server does the full work.

    python benchmarks/labelfile_overhead.py [--images N] [--rounds R]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from docloop.config import Settings
from docloop.ml.engines.rapid import RapidOcrEngine
from docloop.samples import PLATES
from docloop.services import auth, datasets, models, training
from docloop.services.context import build_context
from docloop.worker.loop import Worker

KEY = "bench-key-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unique_jpeg(path: Path, salt: int) -> bytes:
    """Same pixels but for one corner value: a new content hash, the same OCR work."""
    img = np.asarray(Image.open(path).convert("RGB")).copy()
    img[0, 0] = (salt % 256, (salt // 256) % 256, 7)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _train_sample_model(home: Path) -> str:
    ctx = build_context(Settings(home=home, bootstrap_api_key=KEY, inprocess_worker=False))
    who = auth.authenticate(ctx, KEY)
    model = models.create_model(ctx, who, categories=["number_plate"])
    for ann in sorted((PLATES / "annotations").glob("*.json"))[:16]:
        img = PLATES / "images" / f"{ann.stem}.jpg"
        data = [{"filename": img.name, "object": json.loads(ann.read_text())}]
        datasets.add_files(
            ctx, who, model.id, [datasets.IncomingFile(img.name, img.read_bytes())], data
        )
    training.request_training(ctx, who, model.id)
    Worker(ctx).run(burst=True)
    ctx.close()
    return model.id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="docloop-bench-"))
    model_id = _train_sample_model(home)
    images = sorted((PLATES / "images").glob("*.jpg"))[-args.images :]
    port = _free_port()
    env = {**os.environ, "DOCLOOP_HOME": str(home), "DOCLOOP_BOOTSTRAP_API_KEY": KEY}
    server = subprocess.Popen(
        [sys.executable, "-m", "docloop.cli", "serve", "--port", str(port), "--no-worker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
        engine = RapidOcrEngine()
        server_times, engine_times = [], []
        salt = 0
        with httpx.Client(timeout=120, headers=headers) as client:
            for _ in range(args.rounds):
                for path in images:
                    salt += 1
                    data = _unique_jpeg(path, salt)
                    t = time.perf_counter()
                    r = client.post(
                        f"{url}/api/v2/OCR/Model/{model_id}/LabelFile/",
                        files={"file": (path.name, data)},
                    )
                    server_times.append(time.perf_counter() - t)
                    r.raise_for_status()
                    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                    t = time.perf_counter()
                    engine.read(pixels)
                    engine_times.append(time.perf_counter() - t)
        s, e = statistics.median(server_times), statistics.median(engine_times)
        print(f"images: {len(images)} x {args.rounds} rounds (bundled plates sample)")
        print(f"median LabelFile through the server: {s * 1000:.0f} ms")
        print(f"median OCR engine alone:             {e * 1000:.0f} ms")
        print(f"server overhead ratio (median server / median engine): {s / e:.3f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
