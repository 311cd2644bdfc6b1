"""The API's own documentation: a valid OpenAPI document, and /docs and /redoc offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from docloop.api.app import create_app
from docloop.services.context import AppContext
from tests.live import serving

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
