"""Serving: start-up, single-client overhead over the engine, 8-client throughput, memory.

Trains two small plate models on the bundled sample in a temporary home, starts `docloop serve`
in a subprocess and measures, through HTTP as a client would:

- start-up: seconds from launching the process to the first answer of ``/healthz``;
- one client: median LabelFile latency against the OCR engine alone (docloop's engine, as the
  server configures it) on the same images, interleaved; their ratio is the server's overhead;
- ``--clients`` clients at once: throughput against one client's, p50 and p95 latency, failures;
- the server's peak resident memory (its process and children), both models having answered.

The OCR cache is defeated by making each request's bytes unique, so every request does the work.

    python benchmarks/serving.py [--clients 8] [--requests 48]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from itertools import count
from pathlib import Path

import httpx
import numpy as np
import psutil
from bench_server import HEADERS, running_server, train_sample_models, unique_jpeg
from PIL import Image

from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine
from docloop.samples import PLATES


class PeakMemory:
    """Samples the resident memory of a process and its children in the background."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=48, help="requests in each phase")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="docloop-bench-"))
    model_ids = train_sample_models(home, 2)
    images = sorted((PLATES / "images").glob("*.jpg"))[-12:]
    salts = count(1)
    failures: list[str] = []
    with running_server(home, worker=False) as server:
        memory = PeakMemory(server.process.pid)

        def label(client: httpx.Client, i: int) -> float:
            """One LabelFile on image i, alternating between the two models."""
            path = images[i % len(images)]
            data = unique_jpeg(path, next(salts))
            t = time.perf_counter()
            r = client.post(
                f"{server.url}/api/v2/OCR/Model/{model_ids[i % 2]}/LabelFile/",
                files={"file": (path.name, data)},
            )
            took = time.perf_counter() - t
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:200]}")
            return took

        client = httpx.Client(timeout=300, headers=HEADERS)
        for i in range(4):
            label(client, i)  # both models and every OCR engine loaded before any timing
        engine = RapidOcrEngine(OcrProfile(engines=1, threads=1))
        single, alone = [], []
        for i in range(args.requests):
            single.append(label(client, i))
            pixels = np.asarray(Image.open(images[i % len(images)]).convert("RGB"))
            t = time.perf_counter()
            engine.read(pixels)
            alone.append(time.perf_counter() - t)
        single_rate = args.requests / sum(single)
        served, own = statistics.median(single), statistics.median(alone)
        work = list(range(args.requests))
        lock = threading.Lock()
        parallel: list[float] = []

        def client_loop() -> None:
            own = httpx.Client(timeout=300, headers=HEADERS)  # each client its own connection
            while True:
                with lock:
                    if not work:
                        return
                    i = work.pop()
                took = label(own, i)
                with lock:
                    parallel.append(took)

        t = time.perf_counter()
        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        many_rate = args.requests / (time.perf_counter() - t)
        peak = memory.stop()
    print(f"start-up to /healthz: {server.startup_s:.2f} s")
    print(f"one client: {len(single)} LabelFile, median {served * 1000:.0f} ms, engine alone "
          f"median {own * 1000:.0f} ms, overhead ratio {served / own:.3f}")  # fmt: skip
    print(f"{args.clients} clients: {many_rate:.2f} req/s against one client's "
          f"{single_rate:.2f} req/s, ratio {many_rate / single_rate:.2f}x; "
          f"p50 {_pct(parallel, 50) * 1000:.0f} ms, p95 {_pct(parallel, 95) * 1000:.0f} ms; "
          f"one client p50 {_pct(single, 50) * 1000:.0f} ms, "
          f"p95 {_pct(single, 95) * 1000:.0f} ms")  # fmt: skip
    first = f" (first: {failures[0]})" if failures else ""
    print(f"failed requests: {len(failures)}{first}")
    print(f"server peak memory, 2 models loaded: {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
