"""Who may call each route, declared once per route and enforced before the handler runs.

Every route takes exactly one ``Declared`` dependency: ``Needs(permission)`` on the API (401
without credentials, 403 JSON for a role without the permission), ``Page(permission)`` on the
web pages (sign-in redirect, 403 page), or ``PUBLIC``. Permissions are the names of
``services/users.PERMISSIONS``; ``VIEW`` is granted to every role. ``tests/test_permissions.py``
walks the app's route table and fails on a route that declares none, then calls every route as
every role and anonymously.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from docloop.api.deps import CtxDep, get_principal
from docloop.services import users
from docloop.services.auth import Principal

VIEW = "view"
# Framework routes outside our routers: the OpenAPI document, its viewers, static files.
PUBLIC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"})


class Declared:
    """A route's declared permission; ``None`` means anyone, signed in or not."""

    def __init__(self, permission: str | None) -> None:
        if permission is not None and not any(permission in p for p in users.PERMISSIONS.values()):
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.permission!r})"


class Public(Declared):
    """Open to anyone (sign-in, health)."""

    def __init__(self) -> None:
        super().__init__(None)

    async def __call__(self) -> None:
        return None


class Needs(Declared):
    """An API route: the caller (API key or browser session) must hold ``permission``."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)

    async def __call__(self, request: Request, ctx: CtxDep) -> Principal:
        who = await get_principal(request, ctx)
        users.require(who, self.permission or VIEW)
        return who


PUBLIC = Depends(Public())
Viewer = Annotated[Principal, Depends(Needs(VIEW))]
ModelAdmin = Annotated[Principal, Depends(Needs("models"))]
DataEditor = Annotated[Principal, Depends(Needs("data"))]
Annotator = Annotated[Principal, Depends(Needs("annotate"))]
Trainer = Annotated[Principal, Depends(Needs("train"))]
Predictor = Annotated[Principal, Depends(Needs("predict"))]
Reviewer = Annotated[Principal, Depends(Needs("review"))]
