"""Pages for people: sign-in, models, the moderation queue, the review editor and second
reviews.

Pages are rendered on the server; the editor and live progress are small JS modules that call
the native API with the session cookie and the page's CSRF token. Every page needs a signed-in
user whose role allows it; anyone else is sent to the sign-in page.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from docloop.api.deps import SESSION_COOKIE, CtxDep
from docloop.api.permissions import PUBLIC, VIEW, Declared
from docloop.errors import DocloopError, Forbidden, Unauthorized
from docloop.services import model_versions, models, second_review, users
from docloop.services.users import SignedIn

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "docloop_login_csrf"


class _SignIn(Exception):
    """Raised by a page whose visitor must sign in first; turned into a redirect."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


async def _signed_in(request: Request, ctx: CtxDep, permission: str | None = None) -> SignedIn:
    try:
        signed = await run_in_threadpool(
            users.session_user, ctx, request.cookies.get(SESSION_COOKIE)
        )
    except Unauthorized:
        raise _SignIn(request.url.path) from None
    if permission and not users.can(signed.principal, permission):
        raise _NotAllowed(signed, permission)
    # The nav links the second-review page for people who have some.
    request.state.second_reviews = await run_in_threadpool(
        second_review.counts, ctx, signed.principal
    )
    return signed


class _NotAllowed(Exception):
    """Raised by a page the visitor's role does not open; shown as a page, not as JSON."""

    def __init__(self, signed: SignedIn, permission: str) -> None:
        self.signed = signed
        self.permission = permission


class Page(Declared):
    """A page for signed-in people whose role holds ``permission`` (``VIEW``: any role)."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)

    async def __call__(self, request: Request, ctx: CtxDep) -> SignedIn:
        return await _signed_in(request, ctx, None if self.permission == VIEW else self.permission)


AnyoneSignedIn = Annotated[SignedIn, Depends(Page(VIEW))]
Reviewing = Annotated[SignedIn, Depends(Page("review"))]
Annotating = Annotated[SignedIn, Depends(Page("annotate"))]


def _page(request: Request, name: str, signed: SignedIn | None, **values: Any) -> HTMLResponse:
    second = getattr(request.state, "second_reviews", None)
    return templates.TemplateResponse(
        request, name, {"user": signed, "can": users.can, "second_reviews": second, **values}
    )


def install(app: Any) -> None:
    """Mount the pages, their static files and the sign-in redirect."""
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(_SignIn)
    async def _to_login(_: Request, exc: _SignIn) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(_NotAllowed)
    async def _not_allowed(request: Request, exc: _NotAllowed) -> HTMLResponse:
        response = _page(request, "forbidden.html", exc.signed, permission=exc.permission)
        response.status_code = 403
        return response

    app.include_router(router)
    from docloop.web import dashboard  # it builds on this module's page helpers

    app.include_router(dashboard.router)


@router.get("/", response_class=HTMLResponse, dependencies=[PUBLIC])
async def home() -> RedirectResponse:
    return RedirectResponse("/models", status_code=303)


@router.get("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
async def login_page(request: Request, next: str = "/models", error: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _page(request, "login.html", None, next=next, error=error, csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.post("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
async def login(
    request: Request,
    ctx: CtxDep,
    email: str = Form(...),
    password: str = Form(...),
    csrf_token: str = Form(""),
    next: str = Form("/models"),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _page(request, "login.html", None, next=next, csrf=expected,
                     error="The form expired: try again.")  # fmt: skip
    try:
        secret, _ = await run_in_threadpool(users.sign_in, ctx, email, password)
    except DocloopError as exc:
        token = secrets.token_urlsafe(24)
        response = _page(request, "login.html", None, next=next, error=exc.message, csrf=token)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
        response.status_code = 401
        return response
    target = next if next.startswith("/") and not next.startswith("//") else "/models"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax",
        secure=request.url.scheme == "https", max_age=users.SESSION_DAYS * 86400,
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", response_class=RedirectResponse)
async def logout(
    request: Request, ctx: CtxDep, signed: AnyoneSignedIn, csrf_token: str = Form("")
) -> Response:
    if not hmac.compare_digest(signed.csrf_token, csrf_token):
        raise Forbidden("missing or wrong CSRF token")
    await run_in_threadpool(users.sign_out, ctx, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, ctx: CtxDep, signed: AnyoneSignedIn) -> HTMLResponse:
    found = await run_in_threadpool(models.list_models, ctx, signed.principal)
    return _page(request, "models.html", signed, models=found)


@router.get("/models/{model_id}", response_class=HTMLResponse)
async def model_page(
    request: Request, model_id: str, ctx: CtxDep, signed: AnyoneSignedIn
) -> HTMLResponse:
    model = await run_in_threadpool(models.get_model, ctx, signed.principal, model_id)
    held = await run_in_threadpool(model_versions.held_back, ctx, signed.principal, model_id)
    return _page(request, "model.html", signed, model=model, held=held,
                 promoters=_roles_that("train"))  # fmt: skip


def _roles_that(permission: str) -> str:
    """The roles that have ``permission``, in words: "admin or data scientist"."""
    roles = [
        r.replace("_", " ") for r, allowed in users.PERMISSIONS.items() if permission in allowed
    ]
    return " or ".join(roles)


@router.get("/models/{model_id}/review", response_class=HTMLResponse)
async def review_page(
    request: Request, model_id: str, ctx: CtxDep, signed: Reviewing
) -> HTMLResponse:
    model = await run_in_threadpool(models.get_model, ctx, signed.principal, model_id)
    return _page(request, "review_list.html", signed, model=model)


@router.get("/models/{model_id}/review/{file_id}", response_class=HTMLResponse)
async def review_file_page(
    request: Request, model_id: str, file_id: str, ctx: CtxDep, signed: Reviewing
) -> Response:
    """The review editor; a file waiting for the visitor's blind second review opens there."""
    model = await run_in_threadpool(models.get_model, ctx, signed.principal, model_id)
    second = await run_in_threadpool(second_review.open_for, ctx, signed.principal, file_id)
    if second is not None:
        return RedirectResponse(f"/second-reviews/{second}", status_code=303)
    return _page(request, "review_file.html", signed, model=model, file_id=file_id,
                 mode="review")  # fmt: skip


@router.get("/models/{model_id}/data", response_class=HTMLResponse)
async def data_page(
    request: Request, model_id: str, ctx: CtxDep, signed: Annotating
) -> HTMLResponse:
    model = await run_in_threadpool(models.get_model, ctx, signed.principal, model_id)
    return _page(request, "data_list.html", signed, model=model)


@router.get("/models/{model_id}/data/{file_id}", response_class=HTMLResponse)
async def annotate_page(
    request: Request, model_id: str, file_id: str, ctx: CtxDep, signed: Annotating
) -> HTMLResponse:
    model = await run_in_threadpool(models.get_model, ctx, signed.principal, model_id)
    return _page(request, "review_file.html", signed, model=model, file_id=file_id,
                 mode="annotate")  # fmt: skip


@router.get("/second-reviews", response_class=HTMLResponse)
async def second_reviews_page(request: Request, ctx: CtxDep, signed: Reviewing) -> HTMLResponse:
    waiting = await run_in_threadpool(second_review.queue, ctx, signed.principal)
    done = await run_in_threadpool(second_review.queue, ctx, signed.principal, True)
    return _page(request, "second_reviews.html", signed, waiting=waiting, submitted=done)


@router.get("/second-reviews/{review_id}", response_class=HTMLResponse)
async def second_review_page(
    request: Request, review_id: str, ctx: CtxDep, signed: Reviewing
) -> HTMLResponse:
    """The blind editor: the file as the model predicted it, to be read again and submitted."""
    found = await run_in_threadpool(second_review.get, ctx, signed.principal, review_id)
    model = await run_in_threadpool(models.get_model, ctx, signed.principal, found.model_id)
    return _page(request, "review_file.html", signed, model=model,
                 file_id=found.request_file_id, review_id=review_id, mode="second")  # fmt: skip
