"""Serving: start-up, single-client overhead over the engine, 8-client throughput, memory.

Trains two small plate models on the bundled sample in a temporary home, starts `docloop serve`
in a subprocess and measures, through HTTP as a client would:

- start-up: seconds from launching the process to the first answer of ``/healthz``;
- one client: prediction latency (the SDK's ``Client.predict``, the same work as v2's LabelFile)
  against the OCR engine alone (docloop's engine as the server
  runs it, one engine in a child process), each request followed by the engine on the same
  image; the overhead is the median of those paired ratios, which the machine's drift affects
  less than a ratio of two medians;
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
from functools import partial
from pathlib import Path

import numpy as np
from bench_common import KEY, PeakMemory, running_server, train_sample_models, unique_jpeg
from PIL import Image

from docloop.client import Client, ClientError, Retry
from docloop.ml.engines.processes import ProcessPoolEngine
from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine
from docloop.samples import PLATES


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument(
        "--requests", type=int, default=48, help="requests in each phase (rounded up to 12s)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="one-client then many-client rounds")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="docloop-bench-"))
    model_ids = train_sample_models(home, 2)
    images = sorted((PLATES / "images").glob("*.jpg"))[-12:]
    # Each phase sends every image equally often, so both phases see the same mix of sizes.
    n, rounds = -(-args.requests // len(images)) * len(images), args.rounds
    # Every request's bytes made before any timing, so the clients spend no CPU on them.
    payloads = [unique_jpeg(images[i % len(images)], i + 1) for i in range(4 + 2 * n * rounds)]
    numbers = iter(range(len(payloads)))
    failures: list[str] = []
    single, alone, parallel = [], [], []
    single_s = parallel_s = 0.0
    with running_server(home, worker=False) as server:
        memory = PeakMemory(server.process.pid)

        def connect() -> Client:
            """A client of its own connection that never retries: a failure counts as one."""
            return Client(server.url, KEY, timeout=300, retry=Retry(attempts=1))

        def label(client: Client, i: int) -> float:
            """Request i: a prediction on image i (made unique), alternating between the models."""
            path = images[i % len(images)]
            t = time.perf_counter()
            try:
                client.predict(model_ids[i % 2], (path.name, payloads[i]))
            except ClientError as exc:
                failures.append(str(exc)[:200])
            return time.perf_counter() - t

        client = connect()
        # Both models and every OCR engine loaded first: engines start on demand, so the
        # warm-up requests come at once.
        warm = [threading.Thread(target=label, args=(client, next(numbers))) for _ in range(4)]
        for th in warm:
            th.start()
        for th in warm:
            th.join()
        # The engine as the server runs it: one engine in a child process.
        engine = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), "alone", 1)
        lock = threading.Lock()

        def client_loop(work: list[int]) -> None:
            with connect() as conn:
                while True:
                    with lock:
                        if not work:
                            return
                        i = work.pop()
                    took = label(conn, i)
                    with lock:
                        parallel.append(took)

        for r in range(rounds):
            took = []
            for _ in range(n):
                i = next(numbers)
                took.append(label(client, i))
                pixels = np.asarray(Image.open(images[i % len(images)]).convert("RGB"))
                t = time.perf_counter()
                engine.read(pixels)
                alone.append(time.perf_counter() - t)
            single.extend(took)
            work = [next(numbers) for _ in range(n)]
            t = time.perf_counter()
            threads = [
                threading.Thread(target=client_loop, args=(work,)) for _ in range(args.clients)
            ]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t
            single_s, parallel_s = single_s + sum(took), parallel_s + wall
            print(f"round {r + 1}: one client {n / sum(took):.2f} req/s, {args.clients} clients "
                  f"{n / wall:.2f} req/s, ratio {sum(took) / wall:.2f}x")  # fmt: skip
        peak = memory.stop()
        engine.close()
        client.close()
    served, own = statistics.median(single), statistics.median(alone)
    overhead = statistics.median(a / b for a, b in zip(single, alone, strict=True))
    print(f"start-up to /healthz: {server.startup_s:.2f} s")
    print(f"one client: {len(single)} predictions, median {served * 1000:.0f} ms, engine alone "
          f"median {own * 1000:.0f} ms, overhead {overhead:.3f} (median of pairs)")  # fmt: skip
    print(f"{args.clients} clients: {len(parallel) / parallel_s:.2f} req/s against one client's "
          f"{len(single) / single_s:.2f} req/s, ratio {single_s / parallel_s:.2f}x "
          f"(all rounds); p50 {_pct(parallel, 50) * 1000:.0f} ms, "
          f"p95 {_pct(parallel, 95) * 1000:.0f} ms; one client p50 {_pct(single, 50) * 1000:.0f}"
          f" ms, p95 {_pct(single, 95) * 1000:.0f} ms")  # fmt: skip
    first = f" (first: {failures[0]})" if failures else ""
    print(f"failed requests: {len(failures)}{first}")
    print(f"server peak memory, 2 models loaded: {peak / 2**20:.0f} MiB")
    checks = {
        "overhead <= 1.10": overhead <= 1.10,
        f"{args.clients} clients >= 1.8x": single_s / parallel_s >= 1.8,
        "no failed request": not failures,
        "memory < 1.5 GB": peak < 1.5e9,
        "/healthz within 5 s": server.startup_s <= 5,
    }
    print("targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in checks.items()))


if __name__ == "__main__":
    main()
