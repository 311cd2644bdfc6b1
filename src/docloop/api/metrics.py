"""``/metrics``: the process's instruments, request latency per route template, and figures
read from the database at scrape time (queue, live workers, automation), cached briefly so
that scrapes never hammer the database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docloop.api.permissions import PUBLIC
from docloop.db.tables import utcnow
from docloop.domain import JobKind, JobStatus
from docloop.services import jobs, review, worker_registry
from docloop.services.context import AppContext

log = logging.getLogger("docloop.metrics")

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BACKLOG = (JobStatus.QUEUED, JobStatus.RUNNING)


class RequestMetrics:
    """Pure ASGI middleware: one histogram observation per HTTP request, labelled by method,
    route template (``/api/v2/{family}/Model/{model_id}``: no ids) and status code. A path no
    route matches is ``unmatched``, so scanners cannot create series."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        status = 500  # what the client gets when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.histogram.labels(method, route_template(scope, root), str(status)).observe(
                time.perf_counter() - start
            )


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's path template; for a mounted app (static files) its prefix.

    A route of a router included in another keeps its own path relative to its router; FastAPI
    records the whole template, prefixes included, as the request's effective route context."""
    effective = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(effective, "path_format", None)
    if template:
        return str(template)
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    mounted = scope.get("root_path", "")[len(root_path) :]
    return f"{mounted}/{{path}}" if mounted else "unmatched"


class DatabaseFigures(Collector):
    """Gauges computed from the database when scraped: the backlog and the live workers are
    reused for ``metrics_queue_cache_s``, the automation figures for
    ``metrics_automation_cache_s`` (they scan the predictions table)."""

    def __init__(self, state: Any) -> None:
        self.state = state  # the app's state; its ``ctx`` exists once the app has started
        self._lock = threading.Lock()
        self._backlog: list[tuple[JobKind, JobStatus, int, datetime]] = []
        self._alive: dict[JobKind, int] = {}
        self._automation: dict[str, review.Automation] = {}
        self._backlog_until = self._automation_until = float("-inf")
        self._ok = True

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ctx: AppContext | None = getattr(self.state, "ctx", None)
        if ctx is None:
            return
        with self._lock:
            self._refresh(ctx)
            families = list(self._families())
        yield from families

    def _refresh(self, ctx: AppContext) -> None:
        now, settings = time.monotonic(), ctx.settings
        try:
            if now >= self._backlog_until:
                since = utcnow() - timedelta(seconds=settings.job_lease_s)
                with ctx.session() as s:
                    self._backlog = jobs.backlog(s)
                    self._alive = worker_registry.alive_by_kind(s, since)
                self._backlog_until = now + settings.metrics_queue_cache_s
            if now >= self._automation_until:
                with ctx.session() as s:
                    self._automation = review.automation_by_model(s)
                self._automation_until = now + settings.metrics_automation_cache_s
            self._ok = True
        except Exception:  # a scrape reports the database down instead of failing
            log.exception("reading the metrics figures from the database failed")
            self._ok = False

    def _families(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "docloop_database_up", "1 when the last scrape-time database read succeeded."
        )
        up.add_metric([], 1.0 if self._ok else 0.0)
        yield up
        depth = GaugeMetricFamily(
            "docloop_queue_jobs", "Jobs queued or running, per kind and status.",
            labels=["kind", "status"],
        )  # fmt: skip
        age = GaugeMetricFamily(
            "docloop_queue_oldest_age_seconds",
            "Seconds since the oldest queued (or running) job of a kind was created; 0 if none.",
            labels=["kind", "status"],
        )  # fmt: skip
        found = {(kind, status): (n, oldest) for kind, status, n, oldest in self._backlog}
        now = utcnow()
        for kind in JobKind:
            for status in BACKLOG:
                n, oldest = found.get((kind, status), (0, None))
                depth.add_metric([kind.value, status.value], n)
                age.add_metric(
                    [kind.value, status.value],
                    max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
                )
        yield depth
        yield age
        alive = GaugeMetricFamily(
            "docloop_workers_alive",
            "Worker loops seen within one job lease that run this job kind.", labels=["kind"],
        )  # fmt: skip
        for kind in JobKind:
            alive.add_metric([kind.value], self._alive.get(kind, 0))
        yield alive
        yield from _automation_families(self._automation)


def _automation_families(figures: dict[str, review.Automation]) -> Iterator[GaugeMetricFamily]:
    helps = {
        "processed": "Files predicted (finished), per model.",
        "approved": "Predicted files approved, by a reviewer or straight through, per model.",
        "approved_without_correction": "Approved files no reviewer corrected, per model.",
        "straight_through": "Files approved by the routing rules with no reviewer, per model.",
    }
    for field, text in helps.items():
        family = GaugeMetricFamily(f"docloop_files_{field}", text, labels=["model"])
        for model_id, figure in sorted(figures.items()):
            family.add_metric([model_id], getattr(figure, field))
        yield family


def install(app: FastAPI) -> None:
    """Measure every request and serve ``/metrics`` (no key: keep it off the public ingress)."""
    registry = CollectorRegistry()
    latency = Histogram(
        "docloop_http_request_seconds",
        "Time from request to the end of the response, per method, route template and status.",
        ["method", "route", "status"], buckets=REQUEST_BUCKETS, registry=registry,
    )  # fmt: skip
    registry.register(DatabaseFigures(app.state))
    app.add_middleware(RequestMetrics, histogram=latency)

    def render(ctx: AppContext) -> bytes:
        return generate_latest(ctx.metrics.registry) + generate_latest(registry)

    @app.get(
        "/metrics",
        tags=["ops"],
        dependencies=[PUBLIC],
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text exposition format.",
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            }
        },
    )
    async def metrics(request: Request) -> Response:
        ctx: AppContext = request.app.state.ctx
        return Response(await run_in_threadpool(render, ctx), media_type=CONTENT_TYPE_LATEST)
