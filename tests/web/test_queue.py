"""The review queue in a real browser: filters with clear errors, sorting by any column, pages,
thumbnails and confidence bars, and next/skip in the editor walking the filtered queue in its
order ("file 3 of 5")."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from docloop.db.tables import InferenceFile
from tests.web.conftest import SCREENS, Site, accessibility_problems, plate, sign_in

# name: lowest confidence; seeded newest first.
SCORES = {"a.jpg": 0.3, "b.jpg": 0.9, "c.jpg": 0.2, "d.jpg": 0.6, "e.jpg": 0.1}


def _seed_queue(site: Site) -> dict[str, str]:
    ids = {name: site.seed([plate(name.upper(), score)], name) for name, score in SCORES.items()}
    site.seed([plate("STICKER", 0.05, label="sticker")], "sticker.jpg")
    return ids


def _rows(page: Any) -> list[str]:
    return page.locator("#files tbody tr td:nth-child(2)").all_inner_texts()


def _queue(page: Any, site: Site, query: str = "") -> None:
    sign_in(page, site, then=f"/models/{site.model_id}/review")
    if query:
        page.goto(f"{site.url}/models/{site.model_id}/review?{query}")
    page.wait_for_selector("#files tbody tr")


def test_next_and_skip_walk_the_filtered_queue_in_its_order(site: Site, page: Any) -> None:
    ids = _seed_queue(site)
    _queue(page, site)
    page.select_option("#filters select[name=label]", "number_plate")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#files tbody tr').length === 5")
    page.click("th[data-sort=min_score] button")  # lowest confidence first
    page.wait_for_function(
        "document.querySelector('th[data-sort=min_score]').ariaSort === 'ascending'"
    )
    assert _rows(page) == ["e.jpg", "c.jpg", "a.jpg", "d.jpg", "b.jpg"]

    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Enter")  # open the selected (first) file by keyboard
    walked = []
    for expected in ("e.jpg", "c.jpg", "a.jpg", "d.jpg"):
        page.wait_for_selector(f"#file-name:text-is('{expected}')")
        page.wait_for_function("document.getElementById('position').textContent.startsWith('file')")
        walked.append((expected, page.inner_text("#position")))
        if expected == "a.jpg":
            page.screenshot(path=str(SCREENS / "editor-walk.png"))
            page.keyboard.press("a")  # approve and go on
        else:
            page.keyboard.press("n")  # skip
        page.wait_for_url(lambda u, done=ids[expected]: done not in u)
    assert walked == [
        ("e.jpg", "file 1 of 5"),
        ("c.jpg", "file 2 of 5"),
        ("a.jpg", "file 3 of 5"),
        ("d.jpg", "file 3 of 4"),  # a.jpg left the waiting queue when approved
    ]
    page.wait_for_selector("#file-name:text-is('b.jpg')")
    assert "sort=min_score" in page.url and "label=number_plate" in page.url
    page.click("#back")
    page.wait_for_selector("#files tbody tr")
    assert page.input_value("#filters select[name=label]") == "number_plate"
    assert _rows(page) == ["e.jpg", "c.jpg", "d.jpg", "b.jpg"], "the queue kept its filter and sort"


def test_the_queue_sorts_pages_and_shows_previews_and_confidence(site: Site, page: Any) -> None:
    _seed_queue(site)
    site.seed([plate("OLD", 0.7)], "old.jpg", days_ago=3)
    _queue(page, site, "moderated=false&sort=filename&order=asc&limit=4")
    assert _rows(page) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    page.click("#next-page")
    page.wait_for_function(
        "document.querySelector('#files tbody td:nth-child(2)').innerText === 'e.jpg'"
    )
    assert _rows(page) == ["e.jpg", "old.jpg", "sticker.jpg"]
    assert page.is_disabled("#next-page")
    page.click("#prev-page")
    page.wait_for_function(
        "document.querySelector('#files tbody td:nth-child(2)').innerText === 'a.jpg'"
    )
    page.click("th[data-sort=filename] button")  # again: the other way round
    page.wait_for_function(
        "document.querySelector('#files tbody td:nth-child(2)').innerText === 'sticker.jpg'"
    )

    page.goto(f"{site.url}/models/{site.model_id}/review")
    page.wait_for_function("document.querySelectorAll('#files tbody tr').length === 7")
    page.wait_for_function(
        "[...document.querySelectorAll('#files img.thumb')].every((i) => i.complete && i.naturalWidth > 0)"
    )
    widths = page.eval_on_selector_all(
        "#files img.thumb", "(all) => all.map((i) => i.naturalWidth)"
    )
    assert max(widths) <= 240, "thumbnails are small copies, not the page"
    received = page.locator("#files tbody td:nth-child(3)").all_inner_texts()
    assert received[0].startswith("Today, ") and not received[-1].startswith(("Today", "Yesterday"))
    low = page.locator("#files tbody tr", has_text="c.jpg").locator(".score")
    assert "low" in (low.get_attribute("class") or "") and low.inner_text() == "20%"
    page.screenshot(path=str(SCREENS / "queue.png"))
    # keyboard: j moves the selection, Enter opens it
    page.keyboard.press("j")
    second = page.locator("#files tbody tr.selected td:nth-child(2)").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#file-name:text-is('{second}')")


def test_a_start_date_after_the_end_date_is_said_plainly(site: Site, page: Any) -> None:
    site.seed([plate("KL31B4000", 0.4)], "dated.jpg")
    _queue(page, site)
    page.fill("#filters input[name=start]", "2026-12-05")
    page.fill("#filters input[name=end]", "2026-12-01")
    page.click("#filters button[type=submit]")
    error = page.locator("#queue-error")
    error.wait_for()
    assert "start date (2026-12-05) is after the end date (2026-12-01)" in error.inner_text()
    assert page.locator("#files tbody tr").count() == 0, "no stale list under the message"
    assert page.inner_text("#count-unmoderated") == "-"
    page.fill("#filters input[name=below]", "7")
    page.fill("#filters input[name=start]", "")
    page.click("#filters button[type=submit]")
    expect(error).to_contain_text("between 0 and 1")  # waits: the date error shows until then
    page.fill("#filters input[name=below]", "")
    page.fill("#filters input[name=end]", "")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#files tbody tr")
    assert error.is_hidden()


def test_a_file_with_no_page_image_shows_its_type_not_a_grey_box(site: Site, page: Any) -> None:
    site.seed([plate("KL31B4000", 0.4)], "photo.jpg")
    unreadable = site.seed([plate("MH12AB1234", 0.4)], "seeded-000001.jpg")
    # What a benchmark or a fixture stores for a file it seeds: bytes that are no image.
    with site.ctx.session() as s:
        s.get(InferenceFile, unreadable).blob_hash = site.ctx.blobs.put(b"not an image")  # type: ignore[union-attr]
    _queue(page, site)
    page.wait_for_selector("#files .thumb.no-preview")
    icon = page.locator("#files tbody tr", has_text="seeded-000001.jpg").locator(".thumb")
    assert icon.inner_text() == "JPG"
    assert icon.get_attribute("aria-label") == "JPG file seeded-000001.jpg, no preview"
    preview = page.locator("#files tbody tr", has_text="photo.jpg").locator("img.thumb")
    preview.evaluate("(i) => i.decode()")
    assert preview.evaluate("(i) => i.naturalWidth") > 0, "a real page still gets its thumbnail"
    # The thumbnail itself is a clear 4xx, not a 500.
    r = page.request.get(
        f"{site.url}/api/v1/models/{site.model_id}/predictions/{unreadable}/pages/0/image?max_side=240"
    )
    assert r.status == 415 and "is not a JPEG" in r.json()["message"]
    page.screenshot(path=str(SCREENS / "queue-no-preview.png"))
    assert accessibility_problems(page) == []


def test_the_usefulness_column_sorts_most_useful_first(site: Site, page: Any) -> None:
    from docloop.db.tables import InferenceFile

    ids = _seed_queue(site)
    useful = {"a.jpg": 0.5, "b.jpg": 0.1, "c.jpg": 0.9, "d.jpg": 0.3, "e.jpg": 0.7}
    with site.ctx.session() as s:
        for name, score in useful.items():
            s.get(InferenceFile, ids[name]).usefulness = score
    _queue(page, site)
    page.click("th[data-sort=usefulness] button")  # the first click: most useful first
    page.wait_for_function(
        "document.querySelector('th[data-sort=usefulness]').ariaSort === 'descending'"
    )
    # sticker.jpg has no score, as a file predicted before scores were stored: it comes first.
    assert _rows(page) == ["sticker.jpg", "c.jpg", "e.jpg", "a.jpg", "d.jpg", "b.jpg"]
    shown = page.locator("#files tbody tr td:nth-child(7)").all_inner_texts()
    assert shown == ["-", "0.90", "0.70", "0.50", "0.30", "0.10"]
