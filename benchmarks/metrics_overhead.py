"""What measuring requests costs: the request-latency middleware's time per request, and the
time to render /metrics with many series.

The middleware is timed around a minimal ASGI app (no HTTP, no routing), against the same app
bare, in alternating rounds so machine noise falls on both alike; the difference is what every
request pays. Then a registry with ``--routes`` routes times 4 status codes is rendered.

    python benchmarks/metrics_overhead.py [--requests 20000] [--rounds 5] [--routes 40]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from docloop.api.metrics import REQUEST_BUCKETS, RequestMetrics
from docloop.metrics import Metrics

ROUTE = SimpleNamespace(path="/api/v2/{family}/Model/{model_id}/LabelFile/")


async def endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Routing's trace (the matched route) and a two-message response, nothing else."""
    scope["route"] = ROUTE
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def requests_per_second(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_: dict[str, Any]) -> None:
        return None

    start = time.perf_counter()
    for _ in range(n):
        scope = {"type": "http", "method": "POST", "path": "/x", "root_path": ""}
        await app(scope, receive, send)
    return (time.perf_counter() - start) / n


def histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "docloop_http_request_seconds", "bench", ["method", "route", "status"],
        buckets=REQUEST_BUCKETS, registry=registry,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--routes", type=int, default=40)
    args = parser.parse_args()

    measured = RequestMetrics(endpoint, histogram(CollectorRegistry()))
    bare, wrapped = [], []
    for _ in range(args.rounds):
        bare.append(asyncio.run(requests_per_second(endpoint, args.requests)))
        wrapped.append(asyncio.run(requests_per_second(measured, args.requests)))
    b, w = statistics.median(bare), statistics.median(wrapped)
    print(f"bare ASGI app:       {b * 1e6:8.2f} us per request (median of {args.rounds} rounds)")
    print(f"with RequestMetrics: {w * 1e6:8.2f} us per request")
    print(f"middleware cost:     {(w - b) * 1e6:8.2f} us per request")

    metrics, requests = Metrics(), CollectorRegistry()
    latency = histogram(requests)
    for r in range(args.routes):
        for status in ("200", "404", "422", "500"):
            latency.labels("POST", f"/route/{r}", status).observe(0.1)
    for m in range(20):
        metrics.prediction_served(f"model-{m}", 1, 3)
    start = time.perf_counter()
    body = generate_latest(metrics.registry) + generate_latest(requests)
    print(
        f"render /metrics ({args.routes * 4} request series, 20 models): "
        f"{(time.perf_counter() - start) * 1e3:.1f} ms, {len(body) / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
