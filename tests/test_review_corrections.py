"""What a reviewer's marks mean downstream: a field marked wrong stays wrong, a person's field
outranks machine readings in exports and webhooks, approving a file with no field left adds no
training data, and exports stream in batches."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from openpyxl import load_workbook

from docloop.db.tables import InferenceFile, TrainingFile
from docloop.services import auth, exports, models, predictions, webhooks
from docloop.services.context import AppContext
from tests.conftest import run_jobs
from tests.test_review_queue import T0, _box, add_file


@pytest.fixture
def plates(ctx: AppContext):  # type: ignore[no-untyped-def]
    who = auth.authenticate(ctx, "test-admin-key")
    return ctx, who, models.create_model(ctx, who, categories=["number_plate"]).id


def _page(ctx, who, model_id, file_id):  # type: ignore[no-untyped-def]
    return predictions.get_file(ctx, who, model_id, file_id).result[0].prediction


def _change(ctx, who, model_id, file_id, boxes, action, target=None):  # type: ignore[no-untyped-def]
    body = {"request_file_id": file_id, "predicted_boxes": boxes,
            "change": {"action": action, "id": target}}  # fmt: skip
    return predictions.update_page(ctx, who, model_id, body).prediction


def test_a_field_marked_wrong_stays_wrong_until_marked_otherwise(plates) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id = plates
    file_id = add_file(ctx, who, model_id, "a.png", 0, [_box("number_plate", 0.6, "HOSTEDON")])
    [p] = _page(ctx, who, model_id, file_id)
    [p] = _change(ctx, who, model_id, file_id, [{**p, "status": "wrong"}], "mark_wrong", p["id"])
    assert p["status"] == "wrong"
    moved = {**p, "xmin": p["xmin"] + 2, "xmax": p["xmax"] + 2, "status": "corrected"}
    [p] = _change(ctx, who, model_id, file_id, [moved], "move", p["id"])
    assert p["status"] == "wrong" and p["xmin"] == moved["xmin"], "moved, and still wrong"
    retyped = {**p, "ocr_text": "HOSTEDONkkkkk", "status": "corrected"}
    [p] = _change(ctx, who, model_id, file_id, [retyped], "edit_text", p["id"])
    assert p["status"] == "wrong"
    [p] = _change(ctx, who, model_id, file_id, [{**p, "status": "corrected"}], "replace")
    assert p["status"] == "wrong", "a whole-page replace does not clear the mark either"
    [p] = _change(ctx, who, model_id, file_id, [{**p, "status": "correct"}], "mark_correct", "x")
    assert p["status"] == "wrong", "marking another field leaves this one as it is"
    [p] = _change(
        ctx, who, model_id, file_id, [{**p, "status": "correct"}], "mark_correct", p["id"]
    )
    assert p["status"] == "correct"
    [p] = _change(ctx, who, model_id, file_id, [{**p, "status": "wrong"}], "mark_wrong", p["id"])
    [p] = _change(ctx, who, model_id, file_id, [{**p, "status": "correctly_predicted"}], "undo")
    assert p["status"] == "correctly_predicted", "undo restores the page as it was"


def test_a_persons_field_outranks_machine_readings_in_exports_and_webhooks(plates) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id = plates
    boxes = [
        _box("number_plate", 0.18, "KL31B4066", status="corrected"),
        _box("number_plate", 1.0, "KL 31 B 40GG", status="added"),  # drawn, OCR prefilled
        _box("number_plate", 0.9, "KL31B4O66"),  # the model's own reading
    ]
    file_id = add_file(ctx, who, model_id, "a.png", 0, boxes)
    drawn = next(p for p in _page(ctx, who, model_id, file_id) if p["status"] == "added")
    assert drawn["score"] == 0.0, "a drawn box's prefilled text is a suggestion, not 100%"
    predictions.set_moderated(ctx, who, model_id, file_id, True)
    with ctx.session() as s:
        sent = webhooks.payload(s, s.get(InferenceFile, file_id))
    assert sent["fields"]["number_plate"]["ocr_text"] == "KL31B4066"
    job = exports.request_export(ctx, who, model_id, "csv", T0.date(), T0.date())
    run_jobs(ctx)
    data = exports.download(ctx, who, job.id)[0].decode("utf-8-sig")
    [row] = csv.DictReader(io.StringIO(data))
    assert row["number_plate"].split(" | ") == ["KL31B4066", "KL31B4O66", "KL 31 B 40GG"]
    # Once the reviewer confirms the drawn box, it is a person's field too.
    page = _page(ctx, who, model_id, file_id)
    for p in page:
        p["status"] = {"corrected": "wrong", "added": "correct"}.get(p["status"], p["status"])
    _change(ctx, who, model_id, file_id, page, "mark_correct", drawn["id"])
    with ctx.session() as s:
        sent = webhooks.payload(s, s.get(InferenceFile, file_id))
    assert sent["fields"]["number_plate"]["ocr_text"] == "KL 31 B 40GG"


def test_approving_a_file_whose_only_field_is_wrong_adds_no_training_data(plates) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id = plates
    file_id = add_file(ctx, who, model_id, "a.png", 0, [_box("number_plate", 0.6, "HOSTEDON")])
    [p] = _page(ctx, who, model_id, file_id)
    _change(ctx, who, model_id, file_id, [{**p, "status": "wrong"}], "mark_wrong", p["id"])
    approved = predictions.set_moderated(ctx, who, model_id, file_id, True)
    assert approved.moderated and approved.added_to_training is False

    def trained_on() -> list[TrainingFile]:
        with ctx.session() as s:
            return list(s.query(TrainingFile).filter(TrainingFile.source == f"review:{file_id}"))

    assert trained_on() == []
    # Marking the field right again on the approved file makes it a training file at once.
    [p] = _page(ctx, who, model_id, file_id)
    _change(ctx, who, model_id, file_id, [{**p, "status": "correct"}], "mark_correct", p["id"])
    [row] = trained_on()
    assert [a["text"] for a in row.annotations] == ["HOSTEDON"]
    again = predictions.set_moderated(ctx, who, model_id, file_id, False)
    assert again.added_to_training is False and trained_on() == []


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_exports_stream_every_file_in_batches(plates, monkeypatch, fmt) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id = plates
    monkeypatch.setattr(exports, "BATCH", 2)
    ids = [
        add_file(ctx, who, model_id, f"{n}.png", n, [_box("number_plate", 0.9, f"P{n}")])
        for n in range(5)
    ]
    job = exports.request_export(ctx, who, model_id, fmt, T0.date(), date.today())
    run_jobs(ctx)
    assert exports.get_export(ctx, who, job.id).rows == 5
    data = exports.download(ctx, who, job.id)[0]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    elif fmt == "json":
        rows = json.loads(data)
    else:
        sheet = load_workbook(io.BytesIO(data)).active
        head, *body = [[c.value for c in r] for r in sheet.iter_rows()]
        rows = [dict(zip(head, r, strict=True)) for r in body]
    assert [r["request_file_id"] for r in rows] == ids
    assert [r["number_plate"] for r in rows] == [f"P{n}" for n in range(5)]


def test_a_sent_score_is_checked_and_kept(plates) -> None:  # type: ignore[no-untyped-def]
    from docloop.errors import InvalidInput

    ctx, who, model_id = plates
    file_id = add_file(ctx, who, model_id, "a.png", 0, [_box("number_plate", 0.0, "A")])
    [p] = _page(ctx, who, model_id, file_id)
    assert p["score"] == 0.0, "a score of 0 stays 0 (it was read as 1)"
    for bad in ("high", 1.5, -0.1):
        with pytest.raises(InvalidInput, match="box 0: score must be a number between 0 and 1"):
            _change(ctx, who, model_id, file_id, [{**p, "score": bad}], "replace")
