"""What the browser tests share: one live server with a plate model, people of each role,
predictions seeded with known fields (no training needed), a headless Debian Chromium
driven by Playwright, and an axe-core accessibility check injected into a page.

Tests that seed files delete them afterwards, so each test sees only its own files in the
model's queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from docloop.db.tables import utcnow
from docloop.ml.io import decode
from docloop.services import auth, models, predictions, users
from docloop.services.auth import Principal
from docloop.services.context import AppContext, build_context
from tests.conftest import _ENGINE, make_settings, sample_items
from tests.live import serving_with_worker

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "test-artifacts" / "screens"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
PEOPLE = {
    "reviewer": "reviewer@example.com",
    "data_scientist": "scientist@example.com",
    "annotator": "annotator@example.com",
}


@dataclass
class Site:
    """The live server and what the tests seeded in it."""

    url: str
    ctx: AppContext
    model_id: str
    admin: Principal
    photo: Path
    seeded: list[str] = field(default_factory=list)

    def seed(self, fields: list[dict[str, Any]], name: str | None = None, days_ago: int = 0) -> str:
        """A processed file of the model whose only predictions are ``fields`` (each with
        label, box, text, score and optionally status), received ``days_ago`` days ago: the
        queue and editor see exactly these. No trained version is needed to seed one."""
        data = self.photo.read_bytes()
        media_type, pages = decode(data, self.photo.name)
        digest = self.ctx.blobs.put(data)
        when = utcnow() - timedelta(days=days_ago, minutes=len(self.seeded))
        with self.ctx.session() as s:
            row = predictions._new_file(
                s, self.model_id, name or self.photo.name, digest, media_type, None,
                status=predictions.DONE,
            )  # fmt: skip
            row.created_at, row.day = when, predictions.epoch_day(when)
            p = pages[0]
            s.add(predictions._page_row(row.id, 0, p.width, p.height, []))
            file_id = row.id
        predictions.update_page(self.ctx, self.admin, self.model_id, {
            "request_file_id": file_id,
            "predicted_boxes": [{"status": "correctly_predicted", **f} for f in fields],
        })  # fmt: skip
        self.seeded.append(file_id)
        return file_id

    def fields(self, file_id: str) -> list[dict[str, Any]]:
        """The stored predictions of the file's first page."""
        found = predictions.get_file(self.ctx, self.admin, self.model_id, file_id)
        return list(found.result[0].prediction)

    def clear(self) -> None:
        """Delete every file the tests seeded."""
        for file_id in self.seeded:
            predictions.delete_file(self.ctx, self.admin, self.model_id, file_id)
        self.seeded.clear()


def plate(
    text: str, score: float, x: int = 40, label: str = "number_plate", **extra: Any
) -> dict[str, Any]:
    """A field at a known place (70 x 30 pixels from ``x``, 20). Two fields of one label are
    both shown only if neither is a doubted reading (below the threshold and the label's best)."""
    box = {"xmin": x, "ymin": 20, "xmax": x + 70, "ymax": 50}
    return {"label": label, "ocr_text": text, "score": score, **box, **extra}


# Where the seeded photo's plate is (its annotation in the bundled samples).
PLATE_BOX = {"xmin": 130, "ymin": 180, "xmax": 263, "ymax": 225}


def on_the_plate(text: str, score: float, **extra: Any) -> dict[str, Any]:
    """A number_plate field on the seeded photo's real plate."""
    return {"label": "number_plate", "ocr_text": text, "score": score, **PLATE_BOX, **extra}


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server with a plate model (never trained: its predictions are seeded), a worker, and
    a person of each role."""
    ctx = build_context(make_settings(tmp_path_factory.mktemp("web-ui")), ocr=_ENGINE)
    admin = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, admin, categories=["number_plate", "sticker"], name="plates")
    for role, email in PEOPLE.items():
        users.create_user(ctx, email=email, password=PASSWORD, role=role)
    photo = sample_items(13)[12][0]
    with serving_with_worker(ctx, "web-ui-worker") as url:
        yield Site(url, ctx, model.id, admin, photo)
    ctx.close()


@pytest.fixture
def site(live: Site) -> Iterator[Site]:
    """The live server; the files a test seeds are deleted after it."""
    yield live
    live.clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (never a downloaded browser); without it the tests skip.
    One per module: Playwright's sync API runs one event loop at a time, so a browser held for
    the whole session would stop other modules from starting theirs."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        found = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield found
        found.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab at 1280x800 (its own cookies); uncaught page errors fail the test."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page: Any, site: Site, role: str = "reviewer", then: str = "/models") -> None:
    """Sign in through the form as the person of ``role``, then open ``then``."""
    page.goto(f"{site.url}/login?next={then}")
    page.fill("input[name=email]", PEOPLE[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}{then}")


def saved(page: Any) -> None:
    """Wait for the editor to say the last change is saved, then clear the message."""
    page.wait_for_function(
        "document.getElementById('saved').textContent.startsWith('Saved')", timeout=15_000
    )
    page.evaluate("document.getElementById('saved').textContent = ''")


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci` (make test does)")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + json.dumps([n["target"] for n in v["nodes"]][:3])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
