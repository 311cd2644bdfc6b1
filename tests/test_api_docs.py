"""The API's own documentation: a valid OpenAPI document that types every answer, and /docs
and /redoc offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from docloop.api.app import create_app
from docloop.services import auth, exports, models
from docloop.services.context import AppContext
from tests.live import serving
from tests.test_review_queue import add_file

CHROMIUM = Path("/usr/bin/chromium")


def test_openapi_document_is_valid_and_describes_uploads(ctx: AppContext) -> None:
    document = create_app(ctx.settings, ctx=ctx).openapi()
    validate(document)
    upload = document["paths"]["/api/v2/{family}/Model/{model_id}/UploadFile/"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {"file", "data", "modelId"}
    assert form["properties"]["file"]["format"] == "binary"
    assert '"bndbox"' in form["properties"]["data"]["example"]
    native = document["paths"]["/api/v1/models/{model_id}/files"]["post"]["requestBody"]
    assert "annotations" in native["content"]["multipart/form-data"]["schema"]["properties"]


def _declares_its_answer(route: APIRoute) -> bool:
    """A JSON route has a response model; any other names its media type, in its response
    class (HTML, a redirect) or in the content of its documented 200 response."""
    if route.response_model is not None or route.status_code == 204:
        return True
    kind = route.response_class
    kind = kind.value if isinstance(kind, DefaultPlaceholder) else kind
    if issubclass(kind, JSONResponse):
        return False
    documented = bool(route.responses.get(200, {}).get("content"))
    return kind.media_type is not None or issubclass(kind, RedirectResponse) or documented


def test_every_route_declares_its_answer(ctx: AppContext) -> None:
    app = create_app(ctx.settings, ctx=ctx)
    routes = [
        found.original_route
        for found in iter_route_contexts(app.routes)
        if isinstance(found.original_route, APIRoute)
    ]
    offenders = [
        f"{','.join(sorted(r.methods))} {r.path}" for r in routes if not _declares_its_answer(r)
    ]
    assert len(routes) > 100
    assert offenders == [], "routes answering JSON without a response_model:\n" + "\n".join(
        offenders
    )


def test_the_document_types_answers_errors_and_bodies(ctx: AppContext) -> None:
    document = create_app(ctx.settings, ctx=ctx).openapi()
    untyped, no_errors = [], []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            schemas = [c.get("schema") for c in ok.get("content", {}).values()]
            if ok.get("content") is not None and not all(schemas):
                untyped.append(f"{method} {path}")
            if path.startswith("/api/") and not {"401", "404", "422"} <= set(op["responses"]):
                no_errors.append(f"{method} {path}")
    assert untyped == [] and no_errors == []
    components = document["components"]["schemas"]
    v2 = "/api/v2/{family}/Model/{model_id}"
    label = document["paths"][v2 + "/LabelFile/"]["post"]["responses"]
    assert label["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/V2Error")
    example = components["V2Prediction"]["examples"][0]["result"][0]["prediction"][0]
    assert {"label", "ocr_text", "xmin", "ymin", "xmax", "ymax", "score"} <= set(example)
    urls = document["paths"][v2 + "/UploadUrls/"]["post"]["requestBody"]["content"]
    assert set(urls["application/json"]["schema"]["properties"]) == {"urls", "data"}
    assert components["ErrorResponse"]["required"] == ["message", "error"]
    image = "/api/v1/models/{model_id}/predictions/{file_id}/pages/{page}/image"
    assert set(document["paths"][image]["get"]["responses"]["200"]["content"]) == {"image/jpeg"}


def test_answers_hold_the_fields_the_service_gave_and_no_defaults(client: TestClient) -> None:
    """A corrected prediction has no routing ``flags``: the response model declares them with
    a default, which must not appear in the answer."""
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    who = auth.authenticate(ctx, "test-admin-key")
    model_id = models.create_model(ctx, who, categories=["plate"]).id
    box = {"label": "plate", "xmin": 1, "ymin": 1, "xmax": 20, "ymax": 10, "score": 0.9,
           "ocr_text": "AB12", "status": "corrected"}  # fmt: skip
    file_id = add_file(ctx, who, model_id, "a.png", 0, [box])
    for url in (
        f"/api/v1/models/{model_id}/predictions/{file_id}",
        f"/api/v2/Inferences/Model/{model_id}/InferenceRequest/{file_id}",
    ):
        [field] = client.get(url).json()["result"][0]["prediction"]
        assert "flags" not in field and field["alternative"] is False, url
    waiting = client.get(f"/api/v1/models/{model_id}/review").json()
    assert waiting["files"][0]["id"] == file_id and "counts" in waiting


def test_the_review_file_answer_names_its_approver_and_assignee_even_when_none(
    client: TestClient,
) -> None:
    """The editor's file view has ``moderated_by`` and ``assigned_to`` as null while no one
    approved it or holds it, and an approval answers the file with ``added_to_training``."""
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    who = auth.authenticate(ctx, "test-admin-key")
    model_id = models.create_model(ctx, who, categories=["plate"]).id
    box = {"label": "plate", "xmin": 1, "ymin": 1, "xmax": 20, "ymax": 10, "score": 0.9,
           "ocr_text": "AB12", "status": "corrected"}  # fmt: skip
    file_id = add_file(ctx, who, model_id, "a.png", 0, [box])
    url = f"/api/v1/models/{model_id}/predictions/{file_id}"
    shown = client.get(url).json()
    assert (shown["moderated_by"], shown["assigned_to"]) == (None, None)
    approved = client.put(url + "/approval").json()
    assert approved["moderated"] and approved["added_to_training"] is True
    assert approved["result"] == client.get(url).json()["result"]
    assert client.get(url).json()["moderated_by"] is not None


def test_examples_are_valid_answers_that_the_sdk_reads() -> None:
    from dataclasses import fields

    from docloop.api import responses as shared
    from docloop.api.compat import responses as v2
    from docloop.api.native import responses as native
    from docloop.client import _types as sdk

    def example(model: type[shared.ResponseModel]) -> dict[str, Any]:
        found: dict[str, Any] = model.model_json_schema()["examples"][0]
        model.model_validate(found)
        return found

    assert sdk.Model.from_json(example(native.Model)).hosted
    page = sdk.Page.from_json(example(shared.Page))
    assert (page.fields[0].label, page.fields[0].text) == ("number_plate", "HR26DA2330")
    assert example(v2.V2Prediction)["result"][0]["prediction"] == example(shared.Page)["prediction"]
    example(v2.V2Model)
    # The SDK's results read the fields the response models declare, under the same names.
    declared = {
        sdk.Model: set(native.Model.model_fields),
        sdk.UploadedFile: set(shared.UploadedFile.model_fields),
        sdk.Export: {f.name for f in fields(exports.ExportView)},
        sdk.Field: set(shared.Prediction.model_fields) | {"text"},  # read from ocr_text
    }
    for kind, names in declared.items():
        missing = {f.name for f in fields(kind)} - names
        assert missing == set(), (kind.__name__, missing)


@pytest.fixture
def docs_site(ctx: AppContext) -> Iterator[str]:
    with serving(create_app(ctx.settings, ctx=ctx)) as url:
        yield url


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='tag/']")],
)
def test_docs_render_with_the_network_cut_off(docs_site: str, path: str, operation: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(docs_site):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page()
        page.route("**/*", only_local)
        page.goto(docs_site + path)
        page.wait_for_selector(operation, timeout=60_000)
        shown = page.locator(operation).count()
        text = page.inner_text("body")
        browser.close()
    assert shown >= 5 and "UploadFile" in text, (shown, text[:500])
    assert outside == [], f"{path} asked the internet for {outside}"
