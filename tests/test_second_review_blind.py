"""Blind second reviews are a rule of the services: while a person's second review of a file is
open, no route shows them the file's first decision (its approval, the approver's name, the
corrected fields, the change log), whether through the review queue, the file's views, the v2
adapter, exports, webhook retries or the training copy; submitting the review brings the usual
views back."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from docloop.api.app import create_app
from docloop.db.tables import InferenceFile, Model, TrainingFile
from docloop.domain import JobKind, JobStatus
from docloop.errors import UnderBlindReview
from docloop.services import auth, exports, jobs, models, predictions, review_queue
from docloop.services.context import AppContext
from docloop.services.corrections import REVIEW_SOURCE
from tests import kpi_history as h
from tests.conftest import basic, run_jobs
from tests.test_quality import _correct_total, _fields, _person, _waiting_file

QUEUE = review_queue.ReviewFilter()


def _with_page_image(ctx: AppContext, file_id: str) -> None:
    """Give a stored file real page bytes (a blank 800 x 600 page), so its image can be read."""
    out = io.BytesIO()
    Image.fromarray(np.full((600, 800, 3), 255, dtype=np.uint8)).save(out, "PNG")
    digest = ctx.blobs.put(out.getvalue())
    with ctx.session() as s:
        s.get(InferenceFile, file_id).blob_hash = digest  # type: ignore[union-attr]


@pytest.fixture
def blind(db_ctx: AppContext) -> Iterator[dict[str, Any]]:
    """alice corrected a file's total (12.50 to 125.00) and approved it; the file went to bob
    (a data scientist, so he may also annotate) for a second review he has not submitted.
    Another file waits for review."""
    with TestClient(create_app(db_ctx.settings, ctx=db_ctx), headers=basic("test-admin-key")) as c:
        admin = auth.authenticate(db_ctx, "test-admin-key")
        model_id = models.create_model(db_ctx, admin, categories=h.LABELS, name="invoices").id
        alice, alice_client = _person(db_ctx, c.app, "alice@example.com")
        bob, bob_client = _person(db_ctx, c.app, "bob@example.com", role="data_scientist")
        c.put(f"/api/v1/models/{model_id}/second-review", json={"share": 1})
        waiting = _waiting_file(db_ctx, model_id)
        sampled = _waiting_file(db_ctx, model_id)
        _with_page_image(db_ctx, sampled)
        _correct_total(db_ctx, alice, model_id, sampled)
        predictions.set_moderated(db_ctx, alice, model_id, sampled, True)
        [item] = bob_client.get("/api/v1/second-reviews").json()
        assert item["request_file_id"] == sampled
        yield {
            "ctx": db_ctx, "model_id": model_id, "admin": c, "alice": alice, "bob": bob,
            "alice_client": alice_client, "bob_client": bob_client, "file": sampled,
            "waiting": waiting, "review": item["id"],
        }  # fmt: skip
        alice_client.close()
        bob_client.close()


def _submit(blind: dict[str, Any]) -> None:
    url = f"/api/v1/second-reviews/{blind['review']}"
    assert blind["bob_client"].put(url, json={"fields": _fields("12.50")}).status_code == 200


def _page_id(blind: dict[str, Any]) -> str:
    view = predictions.get_file(blind["ctx"], blind["alice"], blind["model_id"], blind["file"])
    return view.result[0].id


# Each route that would show (or answer with) the file's decision, as (method, path, body).
V1 = "/api/v1/models/{model}/predictions/{file}"
V2 = "/api/v2/Inferences/Model/{model}"
REFUSED = {
    "review editor's file": ("GET", V1, None),
    "change log": ("GET", V1 + "/changes", None),
    "position in the queue": ("GET", "/api/v1/models/{model}/review/{file}/position", None),
    "approve": ("PUT", V1 + "/approval", {}),
    "un-approve": ("DELETE", V1 + "/approval", None),
    "correct a page": ("PUT", V1 + "/pages/{page}", {"prediction": []}),
    "assign": ("PUT", V1 + "/assignee", {"reviewer": None}),
    "delete": ("DELETE", V1, None),
    "v2 file": ("GET", V2 + "/InferenceRequest/{file}", None),
    "v2 older path": ("GET", V2 + "/InferenceRequestFiles/GetPredictions/{file}", None),
    "v2 page": ("GET", V2 + "/InferenceRequest/{file}/page/0", None),
    "v2 verify": ("POST", "/api/v2/ImageLevelInferences/Model/{model}/Verify/{file}", None),
    "v2 unverify": ("POST", "/api/v2/ImageLevelInferences/Model/{model}/UnVerify/{file}", None),
    "v2 correct a page": (
        "PATCH",
        V2 + "/ImageLevelInference",
        {"id": "{page}", "predicted_boxes": []},
    ),  # fmt: skip
}


@pytest.mark.parametrize("route", list(REFUSED))
def test_routes_on_the_file_refuse_its_blind_second_reviewer(blind, route) -> None:  # type: ignore[no-untyped-def]
    method, path, body = REFUSED[route]
    values = {"model": blind["model_id"], "file": blind["file"], "page": _page_id(blind)}
    if isinstance(body, dict):
        body = {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}
    r = blind["bob_client"].request(method, path.format(**values), json=body)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "UnderBlindReview"
    assert f"/second-reviews/{blind['review']}" in r.json()["message"]
    assert "125.00" not in r.text and "alice" not in r.text
    # Nothing was changed, and the first reviewer still sees the file.
    mine = blind["alice_client"].get(V1.format(**values))
    assert mine.status_code == 200 and mine.json()["moderated_by"] == "alice@example.com"


def test_the_file_decision_comes_back_once_the_second_review_is_submitted(blind) -> None:  # type: ignore[no-untyped-def]
    ctx, bob, model_id, file_id = blind["ctx"], blind["bob"], blind["model_id"], blind["file"]
    with pytest.raises(UnderBlindReview):
        predictions.get_file(ctx, bob, model_id, file_id)
    with pytest.raises(UnderBlindReview):
        predictions.get_file_for_review(ctx, bob, model_id, file_id)
    _submit(blind)
    view = blind["bob_client"].get(V1.format(model=model_id, file=file_id)).json()
    assert view["moderated_by"] == "alice@example.com"
    texts = {p["label"]: p["ocr_text"] for p in view["result"][0]["prediction"]}
    assert texts["total"] == "125.00"
    changes = blind["bob_client"].get(V1.format(model=model_id, file=file_id) + "/changes")
    assert [c["action"] for c in changes.json()] == ["edit_text", "approve"]


def test_the_blind_editor_still_reads_the_page_image_and_its_text(blind) -> None:  # type: ignore[no-untyped-def]
    base = V1.format(model=blind["model_id"], file=blind["file"])
    image = blind["bob_client"].get(base + "/pages/0/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert blind["bob_client"].get(base + "/pages/0/image", params={"max_side": 64}).is_success
    box = {"xmin": 0, "ymin": 0, "xmax": 100, "ymax": 100}
    text = blind["bob_client"].get(base + "/pages/0/text", params=box)
    assert text.status_code == 200 and text.json() == {"text": ""}


def test_the_review_queue_leaves_the_file_out_of_its_blind_reviewers_lists(blind) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id, file_id = blind["ctx"], blind["model_id"], blind["file"]
    alice, bob, waiting = blind["alice"], blind["bob"], blind["waiting"]
    url = f"/api/v1/models/{model_id}/review"

    def listed(client: TestClient, **params: Any) -> tuple[list[str], dict[str, int], int]:
        page = client.get(url, params=params).json()
        return [f["id"] for f in page["files"]], page["counts"], page["total"]

    assert listed(blind["alice_client"]) == (
        [file_id, waiting], {"moderated": 1, "unmoderated": 1}, 2
    )  # fmt: skip
    # For bob the file is not there at all: not in the files, the counts or the total.
    assert listed(blind["bob_client"]) == ([waiting], {"moderated": 0, "unmoderated": 1}, 1)
    assert listed(blind["bob_client"], moderated=True) == (
        [],
        {"moderated": 0, "unmoderated": 1},
        0,
    )
    assert listed(blind["bob_client"], sort="moderated", order="desc")[0] == [waiting]
    assert review_queue.position(ctx, bob, model_id, waiting, QUEUE).total == 1
    assert review_queue.position(ctx, alice, model_id, waiting, QUEUE).total == 2
    assert review_queue.next_file(ctx, bob, model_id, waiting, QUEUE) is None
    assert review_queue.next_file(ctx, alice, model_id, waiting, QUEUE) == file_id
    nxt = blind["bob_client"].get(f"{url}/next", params={"current": "", "moderated": True})
    assert nxt.json() == {"next": None}

    _submit(blind)
    assert listed(blind["bob_client"]) == listed(blind["alice_client"])
    assert review_queue.next_file(ctx, bob, model_id, waiting, QUEUE) == file_id


def test_listings_by_day_leave_the_file_out_for_its_blind_reviewer(blind) -> None:  # type: ignore[no-untyped-def]
    model_id, file_id = blind["model_id"], blind["file"]
    day = predictions.get_file(blind["ctx"], blind["alice"], model_id, file_id).day
    native = f"/api/v1/models/{model_id}/predictions"
    days = {"start_day": day, "end_day": day}
    v2 = V2.format(model=model_id) + "/ImageLevelInferences"
    v2_days = {"start_day_interval": day, "current_batch_day": day}

    def seen(client: TestClient) -> tuple[list[str], list[str], str]:
        found = client.get(native, params=days).json()
        return (
            [f["request_file_id"] for f in found["moderated"]],
            [f["request_file_id"] for f in found["unmoderated"]],
            client.get(v2, params=v2_days).text,
        )

    assert seen(blind["alice_client"])[0] == [file_id]
    moderated, unmoderated, v2_listing = seen(blind["bob_client"])
    assert moderated == [] and unmoderated == [blind["waiting"]]
    assert file_id not in v2_listing and blind["waiting"] in v2_listing
    _submit(blind)
    assert seen(blind["bob_client"])[:2] == seen(blind["alice_client"])[:2]


def test_an_export_its_blind_reviewer_starts_leaves_the_file_out(blind) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id, file_id = blind["ctx"], blind["model_id"], blind["file"]
    today = date.today()

    def exported(who: Any) -> dict[str, str]:
        job = exports.request_export(ctx, who, model_id, "csv", today, today)
        run_jobs(ctx)
        data = exports.download(ctx, who, job.id)[0].decode("utf-8-sig")
        return {row["request_file_id"]: row["total"] for row in csv.DictReader(io.StringIO(data))}

    assert exported(blind["alice"]) == {file_id: "125.00", blind["waiting"]: "12.50"}
    assert exported(blind["bob"]) == {blind["waiting"]: "12.50"}
    _submit(blind)
    assert exported(blind["bob"]) == {file_id: "125.00", blind["waiting"]: "12.50"}


def test_an_export_that_may_hold_the_file_is_not_downloaded_by_its_blind_reviewer(db_ctx) -> None:  # type: ignore[no-untyped-def]
    """Someone else's export of the file's days, or one's own asked for before the review
    opened (here built with the first reviewer's correction), is refused until the review is
    submitted."""
    ctx = db_ctx
    with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
        admin = auth.authenticate(ctx, "test-admin-key")
        model_id = models.create_model(ctx, admin, categories=h.LABELS, name="invoices").id
        alice, alice_client = _person(ctx, c.app, "alice@example.com")
        bob, bob_client = _person(ctx, c.app, "bob@example.com")
        c.put(f"/api/v1/models/{model_id}/second-review", json={"share": 1})
        file_id = _waiting_file(ctx, model_id)
        today = date.today()
        earlier = exports.request_export(ctx, bob, model_id, "csv", today, today)
        _correct_total(ctx, alice, model_id, file_id)
        run_jobs(ctx)
        assert "125.00" in alice_client.get(f"/api/v1/exports/{earlier.id}/file").text
        predictions.set_moderated(ctx, alice, model_id, file_id, True)
        theirs = exports.request_export(ctx, alice, model_id, "csv", today, today)
        run_jobs(ctx)
        [review] = bob_client.get("/api/v1/second-reviews").json()
        for export in (earlier, theirs):
            r = bob_client.get(f"/api/v1/exports/{export.id}/file")
            assert r.status_code == 403 and r.json()["error"] == "UnderBlindReview"
            assert f"/second-reviews/{review['id']}" in r.json()["message"]
            assert bob_client.get(f"/api/v1/exports/{export.id}").json()["status"] == "done"
        assert alice_client.get(f"/api/v1/exports/{theirs.id}/file").status_code == 200
        url = f"/api/v1/second-reviews/{review['id']}"
        assert bob_client.put(url, json={"fields": _fields("12.50")}).status_code == 200
        assert "125.00" in bob_client.get(f"/api/v1/exports/{theirs.id}/file").text
        alice_client.close()
        bob_client.close()


def test_the_training_copy_of_the_file_is_hidden_from_its_blind_reviewer(blind) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id = blind["ctx"], blind["model_id"]
    with ctx.session() as s:
        training_id = s.query(TrainingFile).filter_by(source=REVIEW_SOURCE + blind["file"]).one().id
    files = f"/api/v1/models/{model_id}/files"
    assert [f["id"] for f in blind["admin"].get(files).json()] == [training_id]
    assert blind["bob_client"].get(files).json() == []
    v2 = blind["bob_client"].get(f"/api/v2/OCR/Model/{model_id}/Annotations")
    assert v2.status_code == 200 and v2.json()["Data"] == []
    for path in ("", "/transcription"):
        r = blind["bob_client"].get(f"{files}/{training_id}{path}")
        assert r.status_code == 403 and r.json()["error"] == "UnderBlindReview", path
    put = blind["bob_client"].put(f"{files}/{training_id}/annotations", json={"object": []})
    assert put.status_code == 403
    assert blind["bob_client"].get(f"{files}/{training_id}/pages/0/image").is_success
    _submit(blind)
    assert [f["id"] for f in blind["bob_client"].get(files).json()] == [training_id]
    assert blind["bob_client"].get(f"{files}/{training_id}").is_success
    v2 = blind["bob_client"].get(f"/api/v2/OCR/Model/{model_id}/Annotations")
    assert len(v2.json()["Data"]) == 1


def test_retrying_failed_webhook_deliveries_skips_the_file_for_its_blind_reviewer(blind) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id, file_id = blind["ctx"], blind["model_id"], blind["file"]
    with ctx.session() as s:
        s.get(Model, model_id).webhook_url = "http://127.0.0.1:9/hook"  # type: ignore[union-attr]
        job = jobs.enqueue(
            s, JobKind.WEBHOOK, {"request_file_id": file_id}, model_id=model_id, max_attempts=1
        )
        job.status = JobStatus.FAILED.value
    url = f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences/retryallexports"
    every = blind["bob_client"].post(url, json={})
    assert every.status_code == 200 and every.json()["queued"] == []
    named = blind["bob_client"].post(url, json={"file_ids": [file_id]})
    assert named.status_code == 403 and named.json()["error"] == "UnderBlindReview"
    assert blind["alice_client"].post(url, json={}).json()["queued"] == [file_id]
