"""Every error leaves the API as JSON with a message naming the problem."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from docloop.api.compat import errors as v2_errors
from docloop.errors import DocloopError, Unauthorized

log = logging.getLogger("docloop.api")


def _body(message: str, code: str) -> dict[str, str]:
    return {"message": message, "error": code}


def install(app: FastAPI) -> None:
    @app.exception_handler(DocloopError)
    async def _domain(request: Request, exc: DocloopError) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": 'Basic realm="docloop"'} if isinstance(exc, Unauthorized) else None
        )
        if request.url.path.startswith(v2_errors.PREFIX):
            status, body = v2_errors.status_and_body(exc)
            return JSONResponse(body, status, headers=headers)
        return JSONResponse(
            _body(exc.message, type(exc).__name__), exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return JSONResponse(_body(f"invalid request: {problems}", "InvalidInput"), 422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(_body(str(exc.detail), "HTTPError"), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(_body(f"internal error: {type(exc).__name__}", "InternalError"), 500)
