"""Every route declares who may call it, and holds to it for every role and for anonymous
callers: the API answers 401 / 403 JSON, the pages redirect to sign-in or show a 403 page."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from docloop.api.app import create_app
from docloop.api.deps import CSRF_HEADER, SESSION_COOKIE
from docloop.api.permissions import PUBLIC_PATHS, VIEW, Declared
from docloop.services import auth, models, users
from docloop.services.context import AppContext
from tests.conftest import basic

PASSWORD = "long enough password"
API_KEY = "api key"  # acts as an admin of its workspace
ANONYMOUS = "anonymous"


def _declared(dependant: Dependant) -> list[Declared]:
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Declared)]
    return found + [x for d in dependant.dependencies for x in _declared(d)]


def declared_routes(app: Any) -> Iterator[tuple[str, str, Declared | None]]:
    """(method, path, declaration) of every route of the app, included routers' too; None for
    the framework's routes."""
    for found in iter_route_contexts(app.routes):
        route = found.original_route
        if isinstance(route, APIRoute):
            declared = _declared(route.dependant)
            assert len(declared) == 1, f"{found.path} declares {declared or 'no permission'}"
            for method in sorted(found.methods or ()):
                yield method, str(found.path), declared[0]
        elif isinstance(route, Mount | Route):
            assert route.path in PUBLIC_PATHS, f"{route.path} declares no permission"
            yield "GET", route.path, None
        else:
            raise AssertionError(f"unknown kind of route {route!r}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppContext, str]]:
    from docloop.services.context import build_context
    from tests.conftest import _ENGINE, make_settings

    ctx = build_context(make_settings(tmp_path_factory.mktemp("perm")), ocr=_ENGINE)
    admin = auth.authenticate(ctx, "test-admin-key")
    model_id = models.create_model(ctx, admin, categories=["plate"]).id
    for role in users.ROLES:
        users.create_user(ctx, email=f"{role}@example.com", password=PASSWORD, role=role)
    with TestClient(create_app(ctx.settings, ctx=ctx), follow_redirects=False) as c:
        yield c, ctx, model_id
    ctx.close()


def _callers(ctx: AppContext) -> dict[str, tuple[dict[str, str], dict[str, str], str]]:
    """Headers, cookies and role of each kind of caller."""
    out: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
        API_KEY: (basic("test-admin-key"), {}, "admin"),
        ANONYMOUS: ({}, {}, ""),
    }
    for role in users.ROLES:
        secret, signed = users.sign_in(ctx, f"{role}@example.com", PASSWORD)
        out[role] = ({CSRF_HEADER: signed.csrf_token}, {SESSION_COOKIE: secret}, role)
    return out


def _url(path: str, model_id: str) -> str:
    values = {"model_id": model_id, "family": "OCR", "page": "0"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "nope"), path)


def test_every_route_declares_who_may_call_it() -> None:
    from tests.conftest import make_settings

    app = create_app(make_settings(__import__("pathlib").Path("/nonexistent")))
    routes = list(declared_routes(app))
    assert len(routes) > 60
    paths = {p for _, p, _ in routes}
    assert {"/api/v1/models/{model_id}/review", "/api/v2/{family}/Model/", "/models"} <= paths


def test_every_route_holds_for_every_role(site) -> None:  # type: ignore[no-untyped-def]
    client, ctx, model_id = site
    callers = _callers(ctx)
    routes = sorted(declared_routes(client.app), key=lambda r: r[1] == "/logout")  # last
    problems, checked = [], Counter[tuple[bool, bool]]()
    for method, path, declared in routes:
        url = _url(path, model_id) + ("/app.css" if path == "/static" else "")
        for caller, (headers, cookies, role) in callers.items():
            client.cookies.clear()
            for k, v in cookies.items():
                client.cookies.set(k, v)
            body: dict[str, Any] = {}
            if path == "/logout":
                body = {"data": {"csrf_token": headers.get(CSRF_HEADER, "")}}
            elif method in ("POST", "PUT", "PATCH"):
                body = {"json": {}}
            r = client.request(method, url, headers=headers, **body)
            permission = declared.permission if declared else None
            allowed = permission is None or (
                role != "" and (permission == VIEW or users.can_role(role, permission))
            )
            page = not path.startswith("/api/")
            if allowed:
                ok = r.status_code not in (401, 403) and r.status_code < 500
            elif caller == ANONYMOUS:
                ok = r.status_code == (303 if page else 401)
            else:
                ok = r.status_code == 403 and (page or "may not" in r.json()["message"])
            checked[(allowed, caller == ANONYMOUS)] += 1
            if not ok:
                problems.append(f"{caller}: {method} {path} -> {r.status_code} {r.text[:120]}")
    assert problems == []
    # Calls allowed, refused to a role and refused to anonymous callers were all made.
    assert checked[(True, False)] > 200 and checked[(False, False)] > 50, checked
    assert checked[(False, True)] > 50, checked


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/{m}/review",
        "/api/v1/models/{m}/predictions/x",
        "/api/v1/models/{m}/predictions/x/pages/0/image",
        "/api/v1/models/{m}/predictions/x/changes",
        "/api/v2/Inferences/Model/{m}/ImageLevelInferences?start_day_interval=0&current_batch_day=1",
    ],
)
def test_an_annotator_cannot_read_predictions_through_the_api(site, path) -> None:  # type: ignore[no-untyped-def]
    client, ctx, model_id = site
    secret, _ = users.sign_in(ctx, "annotator@example.com", PASSWORD)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, secret)
    r = client.get(path.replace("{m}", model_id))
    assert r.status_code == 403 and "annotator role may not" in r.json()["message"]
