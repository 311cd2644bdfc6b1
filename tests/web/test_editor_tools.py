"""The editor's tools in a real browser: assigning only to people who exist, what approving a
file whose every field is wrong means (said before it is done), un-approve, the keyboard help,
the crop of each field, zoom to a field and drawing a box by keyboard."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from docloop.services import predictions
from tests.web.conftest import PLATE_BOX, SCREENS, Site, on_the_plate, plate, saved, sign_in


def _open(page: Any, site: Site, file_id: str, role: str = "reviewer") -> None:
    sign_in(page, site, role, then=f"/models/{site.model_id}/review/{file_id}")
    page.wait_for_selector("#overlay g.box rect")


def test_assign_takes_only_people_who_may_review(site: Site, page: Any) -> None:
    file_id = site.seed([plate("KL31B4000", 0.4)])
    _open(page, site, file_id)
    error = page.locator("#assign-error")
    for email, why in (("nobody@example.com", "no one signs in as 'nobody@example.com'"),
                       ("annotator@example.com", "annotator role, which cannot review")):  # fmt: skip
        page.fill("#assign input[name=reviewer]", email)
        page.click("#assign button[type=submit]")
        expect(error).to_contain_text(why)  # waits: the error of the last try may still show
    stored = predictions.get_file_for_review(site.ctx, site.admin, site.model_id, file_id)
    assert stored.assigned_to is None
    page.fill("#assign input[name=reviewer]", "Scientist@Example.com")
    page.click("#assign button[type=submit]")
    page.wait_for_function("document.getElementById('saved').textContent.startsWith('Assigned')")
    assert page.inner_text("#saved") == "Assigned to scientist@example.com"
    assert error.is_hidden()


def test_approving_a_file_whose_every_field_is_wrong_says_what_it_means(
    site: Site, page: Any
) -> None:
    file_id = site.seed([on_the_plate("KA01D133O", 0.4)])
    _open(page, site, file_id)
    page.keyboard.press("w")
    saved(page)
    page.keyboard.press("a")
    notice = page.locator("#empty-approval")
    notice.wait_for()
    assert "adds nothing to the training data" in notice.inner_text()
    assert not predictions.get_file(site.ctx, site.admin, site.model_id, file_id).moderated
    page.click("#empty-approval-no")
    assert notice.is_hidden()
    page.keyboard.press("a")
    page.click("#empty-approval-yes")
    page.wait_for_url(lambda u: file_id not in u)
    flash = page.locator("#flash")  # said again on the page that opens next (docs/review.md)
    flash.wait_for()
    assert flash.inner_text() == (
        "Approved. Not added to training data: no field left after those marked wrong."
    )
    assert predictions.get_file(site.ctx, site.admin, site.model_id, file_id).moderated

    # Back to the file: un-approve it with the keyboard.
    page.goto(f"{site.url}/models/{site.model_id}/review/{file_id}")
    page.wait_for_selector("#unapprove:visible")
    assert page.inner_text("#file-state").startswith("Approved by reviewer@example.com")
    page.keyboard.press("u")
    page.wait_for_selector("#unapprove", state="hidden")
    assert page.inner_text("#file-state") == "Waiting for review"
    assert not predictions.get_file(site.ctx, site.admin, site.model_id, file_id).moderated


def test_help_crops_zoom_and_drawing_by_keyboard(site: Site, page: Any) -> None:
    file_id = site.seed([on_the_plate("KA01D1330", 0.93)])
    _open(page, site, file_id)
    page.keyboard.press("?")
    help_box = page.locator("#help")
    help_box.wait_for()
    assert (
        "Ctrl" in help_box.inner_text()
        and "mark the field correct / wrong" in help_box.inner_text()
    )
    page.screenshot(path=str(SCREENS / "editor-help.png"))
    page.keyboard.press("Escape")
    help_box.wait_for(state="hidden")

    # the crop beside the text shows the plate: mostly not the grey of an empty canvas
    page.wait_for_function("document.querySelector('canvas.crop').dataset.key")
    filled = page.evaluate(
        """() => { const c = document.querySelector('canvas.crop');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n / (c.width * c.height); }"""
    )
    assert filled > 0.3

    page.keyboard.press("z")  # zoom to the field: it fills much of the view, in its middle
    view = page.locator("#canvas").bounding_box()
    box = page.locator("#overlay g.box rect").first.bounding_box()
    assert box["width"] > view["width"] * 0.4
    assert abs(box["x"] + box["width"] / 2 - (view["x"] + view["width"] / 2)) < 20
    page.keyboard.press("0")

    # draw by keyboard: b, Enter places a box, Alt+arrows resize it, arrows move it
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    saved(page)
    assert page.locator("#field-list li").count() == 2
    added = site.fields(file_id)[1]
    page.keyboard.press("Alt+Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    saved(page)
    moved = site.fields(file_id)[1]
    assert moved["status"] == "added", "its OCR text is still a suggestion"
    assert moved["xmax"] - moved["xmin"] == added["xmax"] - added["xmin"] + 10
    assert moved["ymin"] == added["ymin"] + 10
    assert site.fields(file_id)[0]["xmin"] == PLATE_BOX["xmin"]
