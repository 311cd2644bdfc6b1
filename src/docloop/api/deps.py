"""Dependencies shared by the routers: the app context and the calling principal."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from docloop.services import auth
from docloop.services.auth import Principal
from docloop.services.context import AppContext


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def api_key_from(header: str | None) -> str | None:
    """Basic auth with the key as user name (Nanonets style), or a Bearer token."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0] or None
    return None


async def get_principal(request: Request, ctx: CtxDep) -> Principal:
    key = api_key_from(request.headers.get("authorization"))
    return await run_in_threadpool(auth.authenticate, ctx, key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
