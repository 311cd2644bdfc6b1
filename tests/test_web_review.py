"""The review app in a real browser (Debian's Chromium, headless, driven by Playwright):
sign in, open the queue, fix a text, move a box, draw a missing one, delete one, approve with
the keyboard, then retrain from the corrections. Screenshots go to test-artifacts/screens/."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from docloop.db.tables import DatasetVersion, TrainingFile
from docloop.services import (
    annotation,
    auth,
    datasets,
    models,
    predictions,
    review,
    routing,
    training,
    users,
)
from docloop.services.context import AppContext, build_context
from tests.conftest import _ENGINE, make_settings, run_jobs, sample_items, upload_samples
from tests.live import serving_with_worker

CHROMIUM = Path("/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screens"
EMAIL, PASSWORD = "reviewer@example.com", "correct horse battery"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AppContext, str]]:
    """A live server with a trained plate model, 20 predictions waiting, and a user."""
    ctx = build_context(make_settings(tmp_path_factory.mktemp("web")), ocr=_ENGINE)
    admin = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, admin, categories=["number_plate", "sticker"], name="plates")
    upload_samples(ctx, admin, model.id, 14)
    training.request_training(ctx, admin, model.id)
    run_jobs(ctx)
    for path, _ in sample_items(34)[14:]:
        predictions.predict_files(
            ctx, admin, model.id, [datasets.IncomingFile(path.name, path.read_bytes())]
        )
    users.create_user(ctx, email=EMAIL, password=PASSWORD, role="data_scientist")
    with serving_with_worker(ctx, "web-test-worker") as url:
        yield url, ctx, model.id
    ctx.close()


@pytest.fixture
def page(site):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        browser.close()


def _sign_in(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/models")
    assert "/login" in page.url, "an anonymous visitor is sent to the sign-in page"
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/models")


def _saved(page) -> None:  # type: ignore[no-untyped-def]
    """Wait for the editor to say the last change is saved, then clear the message."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "document.getElementById('saved').textContent.startsWith('Saved')", timeout=15_000
        )
    except PlaywrightTimeout:
        page.screenshot(path=str(SCREENS / "failed.png"))
        pytest.fail(f"not saved: {page.inner_text('#saved')!r}")
    page.evaluate("document.getElementById('saved').textContent = ''")


def test_a_reviewer_fixes_approves_and_retrains_in_the_browser(site, page) -> None:  # type: ignore[no-untyped-def]
    url, ctx, model_id = site
    who = auth.authenticate(ctx, "test-admin-key")
    _sign_in(page, url)
    page.screenshot(path=str(SCREENS / "models.png"))

    page.click("text=plates")
    page.wait_for_selector("#versions tbody tr")
    page.screenshot(path=str(SCREENS / "model.png"))

    page.click("text=Review predictions")
    page.wait_for_selector("#files tbody tr")
    assert page.inner_text("#count-unmoderated") == "20"
    assert page.inner_text("#count-moderated") == "0"
    page.screenshot(path=str(SCREENS / "queue.png"))

    page.click("#files tbody tr:first-child a")
    page.wait_for_selector("#overlay g.box rect")
    file_id = page.url.split("?")[0].rsplit("/", 1)[1]
    listed = predictions.get_file(ctx, who, model_id, file_id).result[0].prediction
    before = listed[0]
    page.screenshot(path=str(SCREENS / "editor.png"))

    # fix a text
    text = page.locator("#field-list li").first.locator("input")
    text.fill("FIXED123")
    text.press("Tab")
    _saved(page)
    # move a box by dragging it
    box = page.locator("#overlay g.box rect").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 30, cy + 20, steps=5)
    page.mouse.up()
    _saved(page)
    # resize it by its bottom-right handle
    handle = page.locator("#overlay rect.handle[data-role=se]").bounding_box()
    page.mouse.move(handle["x"] + 2, handle["y"] + 2)
    page.mouse.down()
    page.mouse.move(handle["x"] + 12, handle["y"] + 8, steps=3)
    page.mouse.up()
    _saved(page)
    # mark it wrong, then correct, with the keyboard
    page.locator("#canvas").focus()
    page.keyboard.press("w")
    _saved(page)
    assert "wrong" in page.get_attribute("#overlay g.box", "class")
    page.keyboard.press("c")
    _saved(page)
    # change its label, and back
    label = page.locator("#field-list li").first.locator("select")
    label.select_option("sticker")
    _saved(page)
    assert "sticker:" in page.text_content("#overlay g.box text")
    label.select_option("number_plate")
    _saved(page)
    # draw a missing box, prefilled with the OCR text under it
    page.click("#draw")
    stage = page.locator("#stage").bounding_box()
    page.mouse.move(stage["x"] + 5, stage["y"] + 5)
    page.mouse.down()
    page.mouse.move(stage["x"] + 60, stage["y"] + 40, steps=5)
    page.mouse.up()
    _saved(page)
    assert page.locator("#field-list li").count() == len(listed) + 1
    # delete it again with the keyboard (it is selected after drawing)
    page.locator("#canvas").focus()
    page.keyboard.press("Delete")
    _saved(page)
    assert page.locator("#field-list li").count() == len(listed)

    after = predictions.get_file(ctx, who, model_id, file_id).result[0].prediction
    assert [p["ocr_text"] for p in after] == ["FIXED123"] + [p["ocr_text"] for p in listed[1:]]
    assert after[0]["xmin"] > before["xmin"] and after[0]["ymin"] > before["ymin"]
    moved_w = (after[0]["xmax"] - after[0]["xmin"]) - (before["xmax"] - before["xmin"])
    assert moved_w > 0, "the resize made the box wider"
    assert after[0]["status"] == "corrected" and after[0]["label"] == "number_plate"
    actions = [c["action"] for c in review.changes(ctx, who, model_id, file_id)]
    assert actions == [
        "edit_text", "move", "resize", "mark_wrong", "mark_correct", "relabel", "relabel", "add",
        "delete",
    ]  # fmt: skip
    assert all(c["by"] == EMAIL for c in review.changes(ctx, who, model_id, file_id))

    # approve with the keyboard: the next waiting file opens
    page.keyboard.press("a")
    page.wait_for_url(lambda u: "/review/" in u and file_id not in u)
    assert predictions.get_file(ctx, who, model_id, file_id).moderated
    with ctx.session() as s:
        [row] = s.query(TrainingFile).filter(TrainingFile.source == f"review:{file_id}").all()
        assert row.annotations[0]["text"] == "FIXED123"
        assert row.annotations[0]["box"]["xmin"] == after[0]["xmin"]

    # the other 19 photos: check each, approve with the keyboard, on to the next
    for _ in range(19):
        page.wait_for_selector("#field-list li, #file-state:has-text('Waiting')")
        current = page.url
        page.keyboard.press("a")
        page.wait_for_url(lambda u, current=current: u != current)
    assert "/review/" not in page.url, "the queue is empty: back to the list"
    page.wait_for_function("document.getElementById('count-moderated').textContent === '20'")
    assert page.inner_text("#count-unmoderated") == "0"

    # retrain from the model page: a second version, trained on the correction too
    page.goto(f"{url}/models/{model_id}")
    page.click("#train")
    page.wait_for_function(
        "document.querySelectorAll('#versions tbody tr').length === 2", timeout=240_000
    )
    page.screenshot(path=str(SCREENS / "model-retrained.png"))
    info = models.get_model(ctx, who, model_id)
    assert [v["number"] for v in info.versions] == [1, 2]
    # the approved files are training data now, the corrected one among them
    v1, v2 = (v["metrics"]["train_pages"] for v in info.versions)
    assert v2 > v1
    with ctx.session() as s:
        version = s.get(DatasetVersion, info.versions[1]["dataset_version_id"])
        [mine] = [f for f in version.files if f["blob_hash"] == row.blob_hash]
        assert mine["annotations"][0]["text"] == "FIXED123"

    # export the extracted fields as CSV and read it
    page.select_option("#export select[name=format]", "csv")
    page.click("#export button[type=submit]")
    link = page.wait_for_selector("#export-download")
    csv_text = page.request.get(url + link.get_attribute("href")).text()
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert len(rows) == 20 and all(r["moderated"] == "approved" for r in rows)
    assert {r["request_file_id"]: r["number_plate"] for r in rows}[file_id] == "FIXED123"
    assert "Processed 20" in page.inner_text("#stats")
    page.screenshot(path=str(SCREENS / "model-export.png"))

    # routing rules set in the UI
    page.fill("#routing input[name=threshold]", "0.8")
    page.fill("tr[data-label=number_plate] input[name=pattern]", "[A-Z0-9]{6,11}")
    page.check("tr[data-label=number_plate] input[name=required]")
    page.click("#routing button[type=submit]")
    page.wait_for_function("document.getElementById('message').textContent === 'Routing saved.'")
    assert routing.get_settings(ctx, who, model_id) == routing.Routing(
        threshold=0.8, webhook_url=None,
        rules={"number_plate": {"required": True, "pattern": "[A-Z0-9]{6,11}"}},
    )  # fmt: skip
    routing.configure(ctx, who, model_id, threshold=None, rules=None, webhook_url=None)


def test_the_editor_sets_doubted_readings_aside_until_asked_for(site, page) -> None:  # type: ignore[no-untyped-def]
    """A reading below the threshold and below its label's best is hidden, box and row, behind
    a "Show doubted readings (1)" switch; once a reviewer marks it correct it is a field and stays
    in sight."""
    url, ctx, model_id = site
    who = auth.authenticate(ctx, "test-admin-key")
    [(path, _)] = sample_items(40)[39:40]
    file_id = predictions.predict_files(
        ctx, who, model_id, [datasets.IncomingFile(path.name, path.read_bytes())]
    )[0].request_file_id
    box = {"xmin": 10, "ymin": 10, "xmax": 80, "ymax": 40}
    predictions.update_page(ctx, who, model_id, {"request_file_id": file_id, "predicted_boxes": [
        {**box, "label": "number_plate", "ocr_text": "MH12AB1234", "score": 0.95,
         "status": "correctly_predicted"},
        {**box, "xmin": 100, "xmax": 170, "label": "number_plate", "ocr_text": "DOUBTED",
         "score": 0.08, "status": "correctly_predicted"},
    ]})  # fmt: skip
    _sign_in(page, url)
    page.goto(f"{url}/models/{model_id}/review/{file_id}")
    page.wait_for_selector("#overlay g.box rect")
    assert page.locator("#field-list li:visible").count() == 1
    assert page.locator("#overlay g.box").count() == 1
    assert page.inner_text("#alternatives") == "Show doubted readings (1)"

    page.check("#show-alternatives")
    assert page.locator("#field-list li:visible").count() == 2
    assert page.locator("#overlay g.box").count() == 2
    page.screenshot(path=str(SCREENS / "doubted-readings.png"))
    doubted = page.locator("#field-list li").nth(1)
    assert doubted.locator("input").input_value() == "DOUBTED"
    doubted.locator("button.correct").click()
    _saved(page)
    assert page.locator("#alternatives").is_hidden(), "nothing is set aside now: no switch"
    page.reload()
    page.wait_for_selector("#overlay g.box rect")
    assert page.locator("#field-list li:visible").count() == 2
    assert page.locator("#alternatives").is_hidden()
    [_, confirmed] = predictions.get_file(ctx, who, model_id, file_id).result[0].prediction
    assert (confirmed["ocr_text"], confirmed["status"]) == ("DOUBTED", "correct")
    predictions.delete_file(ctx, who, model_id, file_id)


def test_browser_writes_need_the_csrf_token(site) -> None:  # type: ignore[no-untyped-def]
    import httpx

    url, _ctx, model_id = site
    with httpx.Client(base_url=url) as client:
        login = client.get("/login")
        token = login.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 303 and "docloop_session" in client.cookies
        assert client.get(f"/api/v1/models/{model_id}").status_code == 200
        r = client.post(f"/api/v1/models/{model_id}/train")
        assert r.status_code == 403 and "CSRF" in r.json()["message"]
        r = client.post("/login", data={"email": EMAIL, "password": "wrong", "csrf_token": "x"})
        assert r.status_code != 303
    users.create_user(_ctx, email="ann@example.com", password=PASSWORD, role="annotator")
    with httpx.Client(base_url=url) as client:
        token = client.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"email": "ann@example.com", "password": PASSWORD,
                                    "csrf_token": token})  # fmt: skip
        r = client.get(f"/models/{model_id}/review")
        assert r.status_code == 403 and "annotator role cannot open this page" in r.text
        assert client.get(f"/models/{model_id}/data").status_code == 200


def test_upload_then_annotate_with_preannotation_in_the_browser(site, page) -> None:  # type: ignore[no-untyped-def]
    url, ctx, model_id = site
    who = auth.authenticate(ctx, "test-admin-key")
    photo, _ = sample_items(36)[35]
    _sign_in(page, url)
    page.goto(f"{url}/models/{model_id}")
    page.set_input_files("#upload input[type=file]", str(photo))
    page.click("#upload button[type=submit]")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Uploaded')")
    run_jobs(ctx)  # its OCR, as the server's worker would

    page.click("text=Training data")
    page.click(f"#training-files a:has-text('{photo.name}')")
    page.wait_for_selector("#page-image")
    assert page.locator("#field-list li").count() == 0
    page.click("#preannotate")
    _saved(page)
    assert page.locator("#field-list li").count() >= 1
    text = page.locator("#field-list li").first.locator("input")
    text.fill("ANNOTATED1")
    text.press("Tab")
    _saved(page)
    page.screenshot(path=str(SCREENS / "annotate.png"))
    [row] = [f for f in annotation.list_files(ctx, who, model_id) if f.filename == photo.name]
    assert row.object[0]["ocr_text"] == "ANNOTATED1" and row.object[0]["bndbox"]


def test_predict_on_a_file_from_the_model_page(site, page) -> None:  # type: ignore[no-untyped-def]
    url, _ctx, model_id = site
    photo, _ = sample_items(37)[36]
    _sign_in(page, url)
    page.goto(f"{url}/models/{model_id}")
    page.set_input_files("#predict input[type=file]", str(photo))
    page.click("#predict button[type=submit]")
    page.wait_for_url(f"{url}/models/{model_id}/review/*")
    page.wait_for_selector("#overlay g.box rect")
    assert page.inner_text("#file-name") == photo.name


def test_a_pdf_is_reviewed_page_by_page(site, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    url, _ctx, model_id = site
    photos = [Image.open(p).convert("RGB") for p, _ in sample_items(39)[37:39]]
    pdf = tmp_path / "two-cars.pdf"
    photos[0].save(pdf, "PDF", save_all=True, append_images=photos[1:])
    _sign_in(page, url)
    page.goto(f"{url}/models/{model_id}")
    page.set_input_files("#predict input[type=file]", str(pdf))
    page.click("#predict button[type=submit]")
    page.wait_for_url(f"{url}/models/{model_id}/review/*")
    page.wait_for_selector("#page-image[src$='/pages/0/image']")
    assert page.locator("#page option").count() == 2
    first_size = page.evaluate("document.getElementById('page-image').naturalWidth")
    page.focus("#page")  # as a keyboard user: the page selector, one step down
    page.keyboard.press("ArrowDown")
    page.wait_for_selector("#page-image[src$='/pages/1/image']")
    page.wait_for_function("document.getElementById('page-image').complete")
    assert page.evaluate("document.getElementById('page-image').naturalWidth") > 0
    assert first_size > 0
    page.screenshot(path=str(SCREENS / "pdf-page-2.png"))
