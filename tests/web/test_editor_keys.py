"""The editor's keyboard in a real browser: shortcuts never type into a field (editing text is
explicit), a box marked wrong stays wrong when moved, and every change can be undone."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import SCREENS, Site, plate, saved, sign_in


def _open(page: Any, site: Site, file_id: str) -> None:
    sign_in(page, site, then=f"/models/{site.model_id}/review/{file_id}")
    page.wait_for_selector("#overlay g.box rect")


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.tagName"))


def test_shortcuts_never_type_into_a_field_and_escape_leaves_it(site: Site, page: Any) -> None:
    file_id = site.seed(
        [plate("KL31B4000", 0.18), plate("MH12AB1234", 0.95, x=200, label="sticker")]
    )
    _open(page, site, file_id)
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("c")
    saved(page)
    page.keyboard.press("Escape")
    assert _focused(page) != "INPUT", "selecting a field never puts the cursor in its text"
    assert [(f["ocr_text"], f["status"]) for f in site.fields(file_id)] == [
        ("KL31B4000", "correctly_predicted"),
        ("MH12AB1234", "correct"),
    ]

    # Enter edits the selected field; Escape leaves it unchanged and saves nothing.
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    assert _focused(page) == "INPUT"
    page.keyboard.type("jkcw")
    page.keyboard.press("Escape")
    assert _focused(page) != "INPUT"
    first = page.locator("#field-list li").first.locator("input.field-text")
    assert first.input_value() == "KL31B4000"
    # Enter, type, Enter: saved as a correction.
    page.keyboard.press("Enter")
    page.keyboard.type("KL31B4001")
    page.keyboard.press("Enter")
    saved(page)
    assert _focused(page) != "INPUT"
    page.keyboard.press("w")  # a shortcut again, not a letter in the text
    saved(page)
    stored = site.fields(file_id)
    assert [(f["ocr_text"], f["status"]) for f in stored] == [
        ("KL31B4001", "wrong"),
        ("MH12AB1234", "correct"),
    ]


def test_a_box_marked_wrong_stays_wrong_when_moved(site: Site, page: Any) -> None:
    file_id = site.seed([plate("KL31B4000", 0.18)])
    _open(page, site, file_id)
    page.locator("#canvas").focus()
    page.keyboard.press("w")
    saved(page)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    saved(page)
    [moved] = site.fields(file_id)
    assert (moved["xmin"], moved["ymin"], moved["status"]) == (43, 30, "wrong")
    # by the mouse too
    box = page.locator("#overlay g.box rect").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 20, cy + 10, steps=4)
    page.mouse.up()
    saved(page)
    [dragged] = site.fields(file_id)
    assert dragged["xmin"] > 43 and dragged["status"] == "wrong"
    assert page.inner_text("#field-list li .marker") == "✗ Wrong"
    # cleared, it is a machine reading again, and "corrected" once moved
    page.keyboard.press("x")
    saved(page)
    page.keyboard.press("ArrowLeft")
    saved(page)
    assert site.fields(file_id)[0]["status"] == "corrected"


def test_every_change_is_undone_and_redone_by_keyboard(site: Site, page: Any) -> None:
    file_id = site.seed(
        [plate("KL31B4000", 0.18), plate("MH12AB1234", 0.95, x=200, label="sticker")]
    )
    _open(page, site, file_id)
    original = [(f["ocr_text"], f["xmin"], f["xmax"], f["status"]) for f in site.fields(file_id)]
    page.keyboard.press("w")
    saved(page)
    page.keyboard.press("Alt+ArrowRight")  # resize by keyboard
    saved(page)
    page.keyboard.press("Enter")
    page.keyboard.type("X")
    page.keyboard.press("Enter")
    saved(page)
    page.keyboard.press("j")
    page.keyboard.press("Delete")
    saved(page)
    changed = site.fields(file_id)
    assert [(f["ocr_text"], f["xmax"], f["status"]) for f in changed] == [("X", 111, "wrong")]
    for _ in range(4):
        page.keyboard.press("Control+z")
        saved(page)
    back = [(f["ocr_text"], f["xmin"], f["xmax"], f["status"]) for f in site.fields(file_id)]
    assert back == original
    page.keyboard.press("Control+Shift+Z")
    saved(page)
    assert site.fields(file_id)[0]["status"] == "wrong"
    page.screenshot(path=str(SCREENS / "editor-undo.png"))


def test_the_keyboard_resizes_the_box_from_the_edge_or_corner_chosen(site: Site, page: Any) -> None:
    file_id = site.seed([plate("KL31B4000", 0.9)])  # the box is 40, 20, 110, 50
    _open(page, site, file_id)
    page.locator("#canvas").focus()

    def box() -> tuple[int, ...]:
        return tuple(site.fields(file_id)[0][k] for k in ("xmin", "ymin", "xmax", "ymax"))

    # At first Alt + arrows move the bottom-right corner.
    assert page.inner_text("#resize-from") == "bottom-right corner"
    page.keyboard.press("Alt+ArrowRight")
    saved(page)
    assert box() == (40, 20, 111, 50)
    # e walks round the box: bottom edge, bottom-left, left edge, top-left corner.
    for _ in range(4):
        page.keyboard.press("e")
    assert page.inner_text("#resize-from") == "top-left corner"
    assert page.locator("#overlay rect.handle.active").get_attribute("data-role") == "nw"
    page.keyboard.press("Alt+ArrowLeft")
    saved(page)
    page.keyboard.press("Alt+Shift+ArrowUp")
    saved(page)
    assert box() == (39, 10, 111, 50)
    # Shift+E goes back: the left edge, which moves only across.
    page.keyboard.press("Shift+E")
    assert page.inner_text("#resize-from") == "left edge"
    page.keyboard.press("Alt+ArrowDown")  # along the edge: no change, nothing to undo
    page.keyboard.press("Alt+Shift+ArrowRight")
    saved(page)
    assert box() == (49, 10, 111, 50)
    assert site.fields(file_id)[0]["status"] == "corrected"
    page.keyboard.press("Control+z")
    saved(page)
    assert box() == (39, 10, 111, 50)
    # The help lists the keys.
    page.keyboard.press("?")
    assert "choose the edge or corner" in page.inner_text("#help")
