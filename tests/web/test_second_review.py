"""The second reviewer's pages in a real browser: a file sampled from another reviewer's approval
waits on their list, the blind editor shows what the model read and never the first decision,
and submitting stores their reading and moves the agreement figures of ``/api/v1/quality``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from docloop.db.tables import PredictionChange
from docloop.services import predictions, second_review, users
from tests.web.conftest import (
    PASSWORD,
    PEOPLE,
    SCREENS,
    Site,
    accessibility_problems,
    plate,
    sign_in,
)


@pytest.fixture
def sampled(site: Site) -> Iterator[Site]:
    """Every approval of the model goes to a second reviewer while the test runs."""
    second_review.set_share(site.ctx, site.admin, site.model_id, 1.0)
    yield site
    second_review.set_share(site.ctx, site.admin, site.model_id, None)


def _predicted(site: Site, fields: list[dict[str, Any]]) -> str:
    """A file whose ``fields`` are what the model predicted: seeded, with the seeding's entry
    in the change log dropped (a second review shows the page as it was before the first
    change, and the model's predictions are not a change)."""
    file_id = site.seed(fields, name="second-look.jpg")
    with site.ctx.session() as s:
        s.execute(delete(PredictionChange).where(PredictionChange.file_id == file_id))
    return file_id


def _first_review(site: Site, file_id: str) -> None:
    """The reviewer corrects the plate's text, confirms the sticker and approves the file."""
    who = users.sign_in(site.ctx, PEOPLE["reviewer"], PASSWORD)[1].principal
    [page] = predictions.get_file(site.ctx, who, site.model_id, file_id).result
    fixed = [
        {**p, "ocr_text": "KL31B4001", "status": "corrected"}
        if p["label"] == "number_plate"
        else {**p, "status": "correct"}
        for p in page.prediction
    ]
    predictions.update_page(site.ctx, who, site.model_id, {
        "id": page.id, "request_file_id": file_id, "prediction": fixed,
        "change": {"action": "edit_text"},
    })  # fmt: skip
    predictions.set_moderated(site.ctx, who, site.model_id, file_id, True)


def _agreement(page: Any, site: Site) -> dict[str, Any]:
    r = page.request.get(f"{site.url}/api/v1/quality?model_id={site.model_id}")
    assert r.ok, r.text()
    return dict(r.json()["agreement"])


def test_a_second_reviewer_reads_a_sampled_file_blind_and_submits(sampled: Site, page: Any) -> None:
    site = sampled
    file_id = _predicted(
        site, [plate("KL31B4000", 0.9), plate("MH12AB1234", 0.95, x=200, label="sticker")]
    )
    _first_review(site, file_id)

    # The only other person who may review (the data scientist) has it waiting, linked from
    # the nav with the count.
    sign_in(page, site, "data_scientist")
    before = _agreement(page, site)
    assert before["second_reviews"] == 0
    link = page.locator("#nav-second-reviews")
    assert link.inner_text().startswith("Second reviews 1")
    link.click()
    page.wait_for_url(f"{site.url}/second-reviews")
    waiting = page.locator("#second-reviews tbody tr", has_text="second-look.jpg")
    assert page.inner_text("h1").startswith("Second reviews: ")
    assert "waiting" in page.inner_text("h1") and waiting.count() == 1
    assert waiting.locator("time").inner_text().startswith("Today, ")
    page.screenshot(path=str(SCREENS / "second-reviews.png"))
    assert accessibility_problems(page) == []

    # Blind: the model's reading, every field unchecked; not the correction, the marks, the
    # approval nor who made them. Opened from the review queue, the file opens here too.
    link = waiting.locator("a").get_attribute("href")
    page.goto(f"{site.url}/models/{site.model_id}/review/{file_id}")
    page.wait_for_url(f"{site.url}{link}")
    page.wait_for_selector("#overlay g.box rect")
    texts = [page.locator("#field-list li input.field-text").nth(i).input_value() for i in range(2)]
    assert texts == ["KL31B4000", "MH12AB1234"]
    assert page.locator("#field-list li .marker").all_inner_texts() == ["Unchecked"] * 2
    shown = page.inner_text("body")
    for first_decision in ("KL31B4001", PEOPLE["reviewer"], "Approved", "✓ Correct"):
        assert first_decision not in shown
    assert accessibility_problems(page) == []

    # Submitting with a field unchecked says so and stores nothing.
    page.click("#submit-second")
    assert "2 of 2 fields not checked yet" in page.inner_text("#second-unchecked")
    # The plate read again by keyboard (the same text the first reviewer wrote), the sticker
    # marked wrong (where the first reviewer kept it).
    page.locator("#canvas").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("KL31B4001")
    page.keyboard.press("Enter")
    page.keyboard.press("j")
    page.keyboard.press("w")
    assert page.locator("#field-list li .marker").all_inner_texts() == ["✎ Edited", "✗ Wrong"]
    assert page.locator("#second-unchecked").is_hidden(), "the note goes once all are checked"
    page.screenshot(path=str(SCREENS / "second-review.png"))
    page.click("#submit-second")
    page.wait_for_url(f"{site.url}/second-reviews")
    assert "submitted" in page.inner_text("#flash")
    assert page.locator("#second-reviews tbody tr", has_text="second-look.jpg").count() == 0
    assert page.locator("#second-reviews-done tbody tr", has_text="second-look.jpg").count() == 1

    scientist = users.sign_in(site.ctx, PEOPLE["data_scientist"], PASSWORD)[1].principal
    [done] = [
        r
        for r in second_review.queue(site.ctx, scientist, decided=True)
        if r.request_file_id == file_id
    ]
    assert [(f["label"], f["text"]) for f in done.fields or []] == [("number_plate", "KL31B4001")]
    # The figures count it: the same plate text and box, the sticker dropped; the plate's
    # correct/wrong marks agree (both changed it), the sticker's do not.
    after = _agreement(page, site)
    assert after["second_reviews"] == 1
    plate_, sticker = after["labels"]["number_plate"], after["labels"]["sticker"]
    assert (plate_["fields"], plate_["text_agreement"], plate_["box_agreement"]) == (1, 1.0, 1.0)
    assert (sticker["fields"], sticker["text_agreement"], sticker["box_agreement"]) == (1, 0, 0)
    # And the approved data is as the first reviewer left it.
    assert {f["label"]: f["ocr_text"] for f in site.fields(file_id)} == {
        "number_plate": "KL31B4001", "sticker": "MH12AB1234"
    }  # fmt: skip


def test_the_nav_links_second_reviews_only_for_people_who_have_some(site: Site, page: Any) -> None:
    sign_in(page, site, "reviewer")
    assert page.locator("#nav-second-reviews").count() == 0
    # The page itself still opens, and says nothing waits.
    page.goto(f"{site.url}/second-reviews")
    assert page.inner_text("h1") == "Second reviews: 0 waiting"
