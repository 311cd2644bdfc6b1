"""The KPI dashboard in a real browser (Debian's Chromium, headless): every chart draws, and
every point, total and CSV download matches ``GET /api/v1/kpis`` for the same scope; the
annotation-quality section matches ``GET /api/v1/quality``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from docloop.api.app import create_app
from docloop.db.tables import InferenceFile
from docloop.services import auth, predictions, second_review, users
from docloop.services.context import AppContext, build_context
from docloop.web import quality_section
from tests import kpi_history
from tests.conftest import _ENGINE, make_settings
from tests.live import serving

CHROMIUM = Path("/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screens"
EMAIL, PASSWORD = "lead@example.com", "a long enough password"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AppContext, str]]:
    """A live server over four weeks of seeded history (PSI measured from 5 fields, so the
    drift chart has points whichever weekday the test runs), and a signed-up user."""
    settings = make_settings(tmp_path_factory.mktemp("dash"), drift_min_fields=5,
                             monitor_interval_s=0)  # fmt: skip
    ctx = build_context(settings, ocr=_ENGINE)
    history = kpi_history.seed(ctx, auth.authenticate(ctx, "test-admin-key"))
    users.create_user(ctx, email=EMAIL, password=PASSWORD, role="data_scientist")
    with serving(create_app(ctx.settings, ctx=ctx)) as url:
        yield url, ctx, history.model_id
    ctx.close()


@pytest.fixture
def page(site):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    url = site[0]
    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{url}/login?next=/dashboard")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/dashboard")
        yield page
        browser.close()


def _expected(api: dict, figure: str) -> dict[tuple[str, str], float]:  # type: ignore[type-arg]
    """(series, week) -> value, as the API gives it, for one chart."""
    out = {}
    titles = {k: v["title"] for k, v in api["definitions"].items()}
    for w in api["weeks"]:
        if figure in ("label_accuracy", "psi"):
            values = w["label_accuracy"] if figure == "label_accuracy" else w["monitoring"]["psi"]
        elif figure == "cost_per_document":
            values = {"with docloop": w["cost_per_document"],
                      "by hand": w["manual_cost_per_document"]}  # fmt: skip
        elif figure in w:
            values = {titles[figure]: w[figure]}
        else:
            values = {titles[figure]: w["monitoring"][figure]}
        out.update({(k, w["week"]): v for k, v in values.items() if v is not None})
    return out


def _drawn(page, figure: str) -> dict[tuple[str, str], float]:  # type: ignore[no-untyped-def]
    points = page.locator(f'svg.chart[data-figure="{figure}"] .point')
    found = {}
    for i in range(points.count()):
        p = points.nth(i)
        box = p.bounding_box()
        assert box and box["width"] > 0 and box["height"] >= 0, f"{figure}: a point not drawn"
        found[(p.get_attribute("data-series"), p.get_attribute("data-period"))] = float(
            p.get_attribute("data-value")
        )
    return found


def test_every_chart_matches_the_api(site, page) -> None:  # type: ignore[no-untyped-def]
    url, _, model_id = site
    page.goto(f"{url}/dashboard?model_id={model_id}")
    api = page.request.get(f"{url}/api/v1/kpis?model_id={model_id}").json()
    drawn_figures = page.eval_on_selector_all("svg.chart", "els => els.map(e => e.dataset.figure)")
    agreement = {name for name, _ in quality_section.AGREEMENT}
    figures = [f for f in drawn_figures if f not in agreement]
    assert set(drawn_figures) - set(figures) == {"text_agreement", "box_agreement", "kappa"}
    assert set(figures) == {
        "processed", "automation_rate", "straight_through_rate", "fields_corrected_per_100",
        "label_accuracy", "review_seconds_per_file", "time_saved_hours", "cost_per_document",
        "money_saved_to_date", "psi", "low_confidence_share", "correction_rate",
        "latency_p95_s", "models_delivered",
    }  # fmt: skip
    for figure in figures:
        if figure == "models_delivered":
            continue
        drawn, expected = _drawn(page, figure), _expected(api, figure)
        assert drawn.keys() == expected.keys(), figure
        for key, value in expected.items():
            assert drawn[key] == pytest.approx(value), (figure, key)
        hover = page.get_attribute(f"#chart-{figure}", "title")
        assert hover == api["definitions"][figure]["how"]
    psi = _drawn(page, "psi")
    assert max(v for (label, _), v in psi.items() if label == "total") > 1.0  # the seeded drift
    months = _drawn(page, "models_delivered")
    assert months == {("models delivered", m["month"]): m["models_delivered"]
                      for m in api["delivery"]["months"]}  # fmt: skip
    for tile in page.locator("#totals .tile").all():
        name = tile.get_attribute("data-figure")
        assert float(tile.get_attribute("data-value")) == pytest.approx(api["totals"][name])
    page.screenshot(path=str(SCREENS / "dashboard.png"), full_page=True)


def test_csv_downloads_and_workspace_scope(site, page) -> None:  # type: ignore[no-untyped-def]
    url, _, model_id = site
    page.goto(f"{url}/dashboard?model_id={model_id}")
    link = page.locator(".downloads a", has_text="weeks")
    with page.expect_download() as got:
        link.click()
    text = Path(got.value.path()).read_bytes().decode()
    assert (
        text
        == page.request.get(f"{url}/api/v1/kpis?model_id={model_id}&format=csv&table=weeks").text()
    )
    page.goto(f"{url}/dashboard")
    assert page.locator('svg.chart[data-figure="psi"]').count() == 0  # drift is per model
    api = page.request.get(f"{url}/api/v1/kpis").json()
    drawn = _drawn(page, "processed")
    assert sum(drawn.values()) == api["totals"]["processed"]
    page.goto(f"{url}/dashboard?start=2026-05-01&end=2026-04-01")
    assert "start date is after the end date" in page.inner_text("[role=alert]")


def test_quality_section_matches_the_api(site, page) -> None:  # type: ignore[no-untyped-def]
    """A waiting file approved (share 1) goes to the signed-in user for a second review; they
    read the total differently: the section's table and charts show what the API says."""
    url, ctx, model_id = site
    admin = auth.authenticate(ctx, "test-admin-key")
    second_review.set_share(ctx, admin, model_id, 1.0)
    with ctx.session() as s:
        waiting = s.scalars(
            select(InferenceFile.id).where(
                InferenceFile.model_id == model_id, InferenceFile.moderated.is_(False)
            )
        ).first()
    predictions.set_moderated(ctx, admin, model_id, waiting, True)
    lead = users.sign_in(ctx, EMAIL, PASSWORD)[1].principal
    [open_review] = second_review.queue(ctx, lead)
    read = [{**f, "ocr_text": "99.99" if f["label"] == "total" else f["text"]}
            for f in open_review.predicted]  # fmt: skip
    second_review.submit(ctx, lead, open_review.id, {"fields": read})

    page.goto(f"{url}/dashboard?model_id={model_id}")
    span = page.request.get(f"{url}/api/v1/kpis?model_id={model_id}").json()
    query = f"model_id={model_id}&start={span['start']}&end={span['end']}"
    api = page.request.get(f"{url}/api/v1/quality?{query}").json()
    assert api["agreement"]["labels"]["total"]["text_agreement"] == 0.0
    assert api["agreement"]["labels"]["date"]["text_agreement"] == 1.0
    for label, figures in api["agreement"]["labels"].items():
        for name in ("text_agreement", "box_agreement", "kappa"):
            cell = page.locator(f'#agreement tr[data-label="{label}"] td[data-figure="{name}"]')
            value = cell.get_attribute("data-value")
            assert (float(value) if value else None) == figures[name], (label, name)
    for name, _ in quality_section.AGREEMENT:
        expected = {(label, w["week"]): f[name] for w in api["agreement"]["weeks"]
                    for label, f in w["labels"].items() if f[name] is not None}  # fmt: skip
        assert _drawn(page, name) == pytest.approx(expected), name
        assert page.get_attribute(f"#chart-{name}", "title") == api["definitions"][name]
    rows = page.locator("#annotators tr[data-reviewer]")
    assert rows.count() == len(api["annotators"])
    page.screenshot(path=str(SCREENS / "dashboard-quality.png"), full_page=True)
