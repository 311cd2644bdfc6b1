"""create_app(settings): the FastAPI application, its lifespan and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docloop import __version__
from docloop.api import errors
from docloop.api.compat.routes import router as compat_router
from docloop.api.native.routes import router as native_router
from docloop.api.permissions import PUBLIC
from docloop.config import Settings
from docloop.services.context import AppContext, build_context
from docloop.web import routes as web


def create_app(settings: Settings, *, ctx: AppContext | None = None) -> FastAPI:
    """The app; with ``settings.inprocess_worker`` it also runs a worker thread while it lives."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ctx or build_context(settings)
        app.state.ctx = context
        worker = None
        if settings.inprocess_worker:
            from docloop.worker.loop import start_background

            worker, thread = start_background(context)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
                thread.join(timeout=30)
            if ctx is None:
                context.close()

    app = FastAPI(title="docloop", version=__version__, lifespan=lifespan)
    errors.install(app)

    @app.get("/healthz", tags=["ops"], dependencies=[PUBLIC])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(compat_router)
    app.include_router(native_router)
    web.install(app)
    return app
