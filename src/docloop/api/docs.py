"""``/docs`` (Swagger UI) and ``/redoc`` from assets docloop serves, so they work offline.

FastAPI's defaults load both from a CDN: behind a firewall, or on a laptop without network,
the pages stayed blank."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from docloop.api.permissions import PUBLIC

STATIC = Path(__file__).parent / "static"
PREFIX = "/api-docs-static"


def install(app: FastAPI) -> None:
    """Mount the assets and the two pages; the app must be built with docs_url=None."""
    app.mount(PREFIX, StaticFiles(directory=str(STATIC)), name="api-docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False, dependencies=[PUBLIC], response_class=HTMLResponse)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False, dependencies=[PUBLIC], response_class=HTMLResponse)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API reference",
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon.png",
            with_google_fonts=False,
        )
