"""How the app looks and who can use it, in a real browser: no serious or critical axe-core
violation on the sign-in, models, model, queue and editor pages; nothing fetched from anywhere
but docloop; a favicon; the editor fits 1280x800 and refits on resize; readable at 200% zoom."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import (
    SCREENS,
    Site,
    accessibility_problems,
    on_the_plate,
    plate,
    sign_in,
)


def _pages(site: Site, file_id: str) -> dict[str, str]:
    m = f"/models/{site.model_id}"
    return {
        "models": "/models",
        "model": m,
        "queue": f"{m}/review",
        "editor": f"{m}/review/{file_id}",
    }


def _ready(page: Any, name: str) -> None:
    """Wait until the page's script has filled it in."""
    wait = {"queue": "#files tbody tr", "editor": "#overlay g.box rect", "model": "#stats"}
    if name in wait:
        page.wait_for_selector(wait[name])
    if name == "editor":
        page.wait_for_function("document.getElementById('position').textContent !== ''")


def _overflow(page: Any) -> dict[str, int]:
    return dict(page.evaluate(
        """() => ({x: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                  y: document.documentElement.scrollHeight - window.innerHeight})"""
    ))  # fmt: skip


def test_every_page_passes_axe_and_needs_nothing_from_elsewhere(site: Site, page: Any) -> None:
    file_id = site.seed(
        [on_the_plate("KA01D1330", 0.93), plate("DL8CAF5030", 0.41, x=20, label="sticker")]
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{site.url}/login")
    problems = {"sign-in": accessibility_problems(page)}
    page.screenshot(path=str(SCREENS / "sign-in.png"))
    sign_in(page, site)
    for name, path in _pages(site, file_id).items():
        page.goto(site.url + path)
        _ready(page, name)
        problems[name] = accessibility_problems(page)
        if name in ("models", "model"):
            page.screenshot(path=str(SCREENS / f"{name}.png"))
        top = page.locator("main h1").first.bounding_box()
        assert top is not None and top["y"] >= 0, f"the {name} page's heading is in sight"
    assert problems == {k: [] for k in problems}
    elsewhere = [u for u in requests if not u.startswith((site.url, "data:", "blob:"))]
    assert elsewhere == [], "every script, style, font and image comes from docloop"
    icon = page.get_attribute("link[rel=icon]", "href")
    found = page.request.get(site.url + icon)
    assert found.ok and found.headers["content-type"].startswith("image/svg")


def test_the_editor_fits_1280x800_and_refits_on_resize(site: Site, page: Any) -> None:
    file_id = site.seed(
        [on_the_plate("KA01D1330", 0.93), plate("DL8CAF5030", 0.41, x=20, label="sticker")]
    )
    sign_in(page, site, then=f"/models/{site.model_id}/review/{file_id}")
    _ready(page, "editor")
    page.wait_for_function("document.querySelector('canvas.crop').dataset.key")
    assert _overflow(page) == {"x": 0, "y": 0}, "no page scroll: the editor fits the window"
    approve = page.locator("#approve").bounding_box()
    assert approve["y"] + approve["height"] <= 800
    page.screenshot(path=str(SCREENS / "editor.png"))
    before = page.locator("#overlay g.box rect").first.bounding_box()
    page.set_viewport_size({"width": 1024, "height": 700})
    page.wait_for_function(  # the page is fitted again to the smaller window
        "(w) => document.querySelector('#overlay g.box rect').getBoundingClientRect().width < w",
        arg=before["width"],
    )
    assert _overflow(page)["x"] <= 0


@pytest.mark.parametrize("name", ["models", "model", "queue", "editor"])
def test_readable_at_200_percent_zoom(site: Site, browser: Any, name: str) -> None:
    """At 200% a 1280x800 window is 640x400 CSS pixels: nothing needs sideways scrolling
    (the queue's table scrolls inside its own box) and the text keeps its size."""
    file_id = site.seed([on_the_plate("KA01D1330", 0.93)])
    context = browser.new_context(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    page = context.new_page()
    try:
        sign_in(page, site)
        page.goto(site.url + _pages(site, file_id)[name])
        _ready(page, name)
        assert _overflow(page)["x"] <= 0
        size = page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('main')).fontSize)"
        )
        assert size >= 16
        assert accessibility_problems(page) == []
        page.screenshot(path=str(SCREENS / f"{name}-200-percent.png"), full_page=True)
    finally:
        context.close()
