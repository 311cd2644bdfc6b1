"""Dependencies shared by the routers: the app context and the calling principal."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from docloop.errors import Forbidden
from docloop.services import auth, users
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


SESSION_COOKIE = "docloop_session"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def get_principal(request: Request, ctx: CtxDep) -> Principal:
    """An API key (Basic or Bearer), or a browser session whose writes carry its CSRF token.
    Routes do not take this directly: they declare a permission (``api/permissions.py``).

    Cookies are sent by the browser on any request, including one forged by another site; the
    CSRF token is not, so a write without it is refused."""
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header or not cookie:
        return await run_in_threadpool(auth.authenticate, ctx, api_key_from(header))
    signed = await run_in_threadpool(users.session_user, ctx, cookie)
    if request.method in UNSAFE and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, ""), signed.csrf_token
    ):
        raise Forbidden("missing or wrong CSRF token (send the page's token as X-CSRF-Token)")
    return signed.principal
