"""create_app(settings): the FastAPI application, its lifespan and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from docloop import __version__
from docloop.api import docs, errors, metrics
from docloop.api.compat.routes import router as compat_router
from docloop.api.native.quality import router as quality_router
from docloop.api.native.routes import router as native_router
from docloop.api.permissions import PUBLIC
from docloop.api.responses import Health, Readiness
from docloop.config import Settings
from docloop.services import readiness
from docloop.services.context import AppContext, build_context
from docloop.web import routes as web


def create_app(settings: Settings, *, ctx: AppContext | None = None) -> FastAPI:
    """The app; with ``settings.inprocess_worker`` it also runs a worker thread while it lives."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ctx or build_context(settings)
        app.state.ctx = context
        app.state.workers = None
        if settings.inprocess_worker:
            from docloop.worker.loop import start_background

            app.state.workers, thread = start_background(context)
        monitor = None
        if settings.monitor_interval_s > 0:
            from docloop.services import monitoring

            monitor = monitoring.start_background(context)
        try:
            yield
        finally:
            if monitor is not None:
                monitor.set()
            if app.state.workers is not None:
                app.state.workers.stop()  # short jobs finish, a training hands its job back
                thread.join(timeout=settings.shutdown_grace_s)
            if ctx is None:
                context.close()

    app = FastAPI(
        title="docloop", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    errors.install(app)
    metrics.install(app)
    docs.install(app)

    @app.get("/healthz", tags=["ops"], dependencies=[PUBLIC], response_model=Health)
    async def healthz() -> dict[str, str]:
        """Alive: answers without touching any dependency (a liveness probe)."""
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        tags=["ops"],
        dependencies=[PUBLIC],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
    )
    def readyz() -> JSONResponse:
        """Ready: 200 when the database, blob store and OCR engine all answer, else 503 with
        the failing checks' reasons (a readiness probe)."""
        results = readiness.run_checks(app.state.ctx)
        ready = all(r.ok for r in results.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in results.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    app.include_router(compat_router)
    app.include_router(native_router)
    app.include_router(quality_router)
    web.install(app)
    return app
