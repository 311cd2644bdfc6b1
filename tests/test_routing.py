"""Routing rules, straight-through approval, webhooks with retries, exports and loop figures."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from docloop.db.tables import TrainingFile
from docloop.errors import InvalidInput
from docloop.services import auth, datasets, exports, predictions, review, review_queue, routing
from docloop.services.jobs import backoff
from docloop.services.review_queue import QueueCounts, QueueOrder, ReviewFilter
from tests.conftest import run_jobs, sample_items


def _model(threshold=None, rules=None):  # type: ignore[no-untyped-def]
    return SimpleNamespace(review_threshold=threshold, rules=rules)


def _p(label: str, text: str, score: float = 0.99) -> dict:  # type: ignore[type-arg]
    return {"label": label, "ocr_text": text, "score": score}


def test_rules_flag_each_field_with_its_reasons() -> None:
    rules = {
        "date": {"date": True, "required": True},
        "total": {"pattern": r"\d+\.\d{2}", "min": 0, "max": 100, "equals": "due"},
        "due": {},
    }
    model = _model(0.9, rules)
    future = (date.today() + timedelta(days=3)).strftime("%d/%m/%Y")
    page = [_p("date", future), _p("total", "120.00"), _p("due", "12.00", score=0.5)]
    assert routing.flag(model, [page], date.today()) == []
    assert page[0]["flags"] == ["is a date in the future"]
    assert page[1]["flags"] == ["is outside 0 to 100", "differs from due"]
    assert page[2]["flags"] == ["confidence 0.50 is below 0.90"]
    assert not routing.straight_through(model, [page], [])

    ok = [_p("date", "25/12/2018"), _p("total", "12.00"), _p("due", "12.00")]
    assert routing.flag(model, [ok], date.today()) == []
    assert routing.straight_through(model, [ok], [])
    missing = [_p("total", "12.00"), _p("due", "12.00")]
    assert routing.flag(model, [missing], date.today()) == ["required field 'date' is missing"]
    assert not routing.straight_through(_model(None, rules), [ok], [])  # no threshold: never


def test_a_doubted_alternative_below_the_threshold_does_not_hold_a_file_back() -> None:
    """The decoder now adds the readings the network doubted as low-scored candidates; each
    label's best prediction decides, and the rest wait only when they are confident fields."""
    model = _model(0.9, {"total": {"pattern": r"\d+\.\d{2}"}})
    page = [_p("total", "12.00"), _p("total", "TOTAL", score=0.02), _p("date", "25/12/2018")]
    assert routing.flag(model, [page], date.today()) == []
    assert [p["flags"] for p in page] == [[], [], []]
    assert routing.straight_through(model, [page], [])
    unsure = [_p("total", "12.00", score=0.5), _p("total", "13.00", score=0.2)]
    routing.flag(model, [unsure], date.today())
    assert unsure[0]["flags"] == ["confidence 0.50 is below 0.90"]
    assert unsure[1]["flags"] == []
    assert not routing.straight_through(model, [unsure], [])


def test_bad_rules_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="not a label"):
        routing.validate_rules({"colour": {"required": True}}, ["total"])
    with pytest.raises(InvalidInput, match="not a regular expression"):
        routing.validate_rules({"total": {"pattern": "("}}, ["total"])
    with pytest.raises(InvalidInput, match="may only use"):
        routing.validate_rules({"total": {"shout": True}}, ["total"])


def test_failed_jobs_back_off_doubling() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(30) == 600.0


class _Receiver(BaseHTTPRequestHandler):
    calls: list[int] = []
    bodies: list[dict] = []  # type: ignore[type-arg]

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Receiver.calls.append(1)
        status = 503 if len(_Receiver.calls) == 1 else 200  # down once, then up
        if status == 200:
            _Receiver.bodies.append(body)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.slow
def test_straight_through_webhook_retry_export_and_figures(trained) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        routing.configure(ctx, who, model_id, threshold=0.0,
                          rules={"number_plate": {"pattern": "[A-Z0-9]{6,11}"}}, webhook_url=hook)  # fmt: skip
        files = [datasets.IncomingFile(p.name, p.read_bytes()) for p, _ in sample_items(22)[18:22]]
        results = [predictions.predict_files(ctx, who, model_id, [f])[0] for f in files]
        routed = [predictions.get_file(ctx, who, model_id, r.request_file_id) for r in results]
        through = [r for r in routed if r.moderated]
        waiting = [r for r in routed if not r.moderated]
        for r in waiting:  # each waiting file says why
            assert any(p["flags"] for p in r.result[0].prediction) or not r.result[0].prediction
        assert through, "plate-shaped, confident predictions go straight through"

        run_jobs(ctx)  # one attempt per file; the first finds the receiver down (503)
        assert len(_Receiver.calls) == len(through)
        assert len(_Receiver.bodies) == len(through) - 1
        time.sleep(backoff(1) + 0.2)
        run_jobs(ctx)  # the failed delivery, retried after its back-off
        delivered = [b["request_file_id"] for b in _Receiver.bodies]
        assert sorted(delivered) == sorted(r.request_file_id for r in through)
        assert _Receiver.bodies[0]["event"] == "file.approved"

        figures = review.stats(ctx, who, model_id)
        assert figures.straight_through == len(through)
        assert figures.automation_rate == pytest.approx(
            figures.approved_without_correction / figures.processed, abs=1e-4
        )

        today = date.today()
        job = exports.request_export(ctx, who, model_id, "csv", today, today)
        run_jobs(ctx)
        data, media_type, _ = exports.download(ctx, who, job.id)
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert media_type == "text/csv"
        assert list(rows[0]) == [
            "filename",
            "request_file_id",
            "moderated",
            "created_at",
            "number_plate",
        ]
        by_id = {r["request_file_id"]: r for r in rows}
        for r in routed:
            top = max(r.result[0].prediction, key=lambda p: p["score"], default=None)
            assert by_id[r.request_file_id]["number_plate"].startswith(
                top["ocr_text"] if top else ""
            )
        job = exports.request_export(ctx, who, model_id, "xlsx", today, today)
        run_jobs(ctx)
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(exports.download(ctx, who, job.id)[0])).active
        assert sheet.max_row == len(rows) + 1
        with pytest.raises(InvalidInput, match="format"):
            exports.request_export(ctx, who, model_id, "pdf", today, today)
    finally:
        routing.configure(ctx, who, model_id, threshold=None, rules=None, webhook_url=None)
        server.shutdown()


def test_alternatives_stay_out_of_training_data_and_exports_unless_confirmed(trained) -> None:  # type: ignore[no-untyped-def]
    """A candidate the network doubted, scored low beside its label's best, becomes training
    data, an exported value or a field the review queue counts only when a person marks it
    correct."""
    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    [(path, _)] = sample_items(23)[22:23]
    result = predictions.predict_files(
        ctx, who, model_id, [datasets.IncomingFile(path.name, path.read_bytes())]
    )[0]
    file_id = result.request_file_id
    box = {"xmin": 10, "ymin": 10, "xmax": 60, "ymax": 30}
    boxes = [
        {**box, "label": "number_plate", "ocr_text": "MH12AB1234", "score": 0.97,
         "status": "correctly_predicted"},
        {**box, "label": "number_plate", "ocr_text": "DEALER", "score": 0.02,
         "status": "correctly_predicted"},
        {**box, "label": "number_plate", "ocr_text": "KA01Z9", "score": 0.03, "status": "correct"},
    ]  # fmt: skip
    view = predictions.update_page(
        ctx, who, model_id, {"request_file_id": file_id, "predicted_boxes": boxes}
    )
    # Each prediction says whether it is one (the editor sets unconfirmed ones aside).
    assert [p["alternative"] for p in view.prediction] == [False, True, True]
    stored = predictions.get_file(ctx, who, model_id, file_id).result[0].prediction
    assert [p["alternative"] for p in stored] == [False, True, True]
    listed = review_queue.search(ctx, who, model_id, ReviewFilter()).files
    [mine] = [f for f in listed if f.id == file_id]
    assert (mine.fields, mine.min_score) == (2, 0.03)  # the queue lists fields only
    predictions.set_moderated(ctx, who, model_id, file_id, True)
    with ctx.session() as s:
        [row] = s.query(TrainingFile).filter(TrainingFile.source == f"review:{file_id}").all()
        assert [a["text"] for a in row.annotations] == ["MH12AB1234", "KA01Z9"]
    today = date.today()
    job = exports.request_export(ctx, who, model_id, "csv", today, today)
    run_jobs(ctx)
    data = exports.download(ctx, who, job.id)[0].decode("utf-8-sig")
    [mine] = [r for r in csv.DictReader(io.StringIO(data)) if r["request_file_id"] == file_id]
    # The confirmed reading comes first: a person's field outranks the machine's.
    assert mine["number_plate"] == "KA01Z9 | MH12AB1234"
    predictions.set_moderated(ctx, who, model_id, file_id, False)


def test_preannotation_offers_ocr_lines_before_any_model_exists(ctx) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import annotation, models

    who = auth.authenticate(ctx, "test-admin-key")
    m = models.create_model(ctx, who, categories=["number_plate", "make"])
    [path_objects] = sample_items(1)
    path, _ = path_objects
    [stored] = datasets.add_files(
        ctx, who, m.id, [datasets.IncomingFile(path.name, path.read_bytes())], None
    )
    run_jobs(ctx)
    out = annotation.preannotate(ctx, who, m.id, stored["id"])
    assert out.source == "ocr" and out.object
    assert {o["name"] for o in out.object} == {"number_plate"}
    saved = annotation.set_annotations(ctx, who, m.id, stored["id"], out.object[:1])
    assert saved.object[0]["ocr_text"] == out.object[0]["ocr_text"]
    with pytest.raises(InvalidInput, match="not one of the model's labels"):
        annotation.set_annotations(
            ctx, who, m.id, stored["id"], [{"name": "colour", "ocr_text": "x"}]
        )


def test_roles_limit_what_people_may_do(ctx) -> None:  # type: ignore[no-untyped-def]
    from docloop.errors import Forbidden, Unauthorized
    from docloop.services import models, training, users

    admin = auth.authenticate(ctx, "test-admin-key")
    m = models.create_model(ctx, admin, categories=["total"])
    for role in users.ROLES:
        users.create_user(ctx, email=f"{role}@example.com", password="long enough pw", role=role)
    signed = {r: users.sign_in(ctx, f"{r}@example.com", "long enough pw")[1].principal
              for r in users.ROLES}  # fmt: skip
    with pytest.raises(Forbidden, match="reviewer role may not"):
        training.request_training(ctx, signed["reviewer"], m.id)
    with pytest.raises(Forbidden):
        datasets.add_files(ctx, signed["annotator"], m.id, [], None)
    with pytest.raises(Forbidden):
        predictions.set_moderated(ctx, signed["annotator"], m.id, "x", True)
    with pytest.raises(Forbidden):
        models.create_model(ctx, signed["reviewer"], categories=["a"])
    assert models.create_model(ctx, signed["data_scientist"], categories=["a"]).id
    with pytest.raises(Unauthorized, match="wrong email or password"):
        users.sign_in(ctx, "admin@example.com", "wrong password!")
    with pytest.raises(InvalidInput, match="at least 10"):
        users.create_user(ctx, email="x@example.com", password="short", role="admin")


@pytest.mark.slow
def test_queue_filters_counts_and_assignment(trained) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import users

    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    files = [datasets.IncomingFile(p.name, p.read_bytes()) for p, _ in sample_items(26)[22:26]]
    ids = [predictions.predict_files(ctx, who, model_id, [f])[0].request_file_id for f in files]
    predictions.set_moderated(ctx, who, model_id, ids[0], True)
    mine = review_queue.search(ctx, who, model_id, ReviewFilter())
    assert mine.counts.moderated >= 1 and mine.counts.unmoderated >= 3
    waiting = review_queue.search(ctx, who, model_id, ReviewFilter(moderated=False))
    assert ids[0] not in [f.id for f in waiting.files]
    assert waiting.counts == mine.counts, "counts do not depend on the moderated filter"
    none = review_queue.search(ctx, who, model_id, ReviewFilter(below=0.0))
    assert none.total == 0 and none.counts == QueueCounts(moderated=0, unmoderated=0)
    tomorrow = date.today() + timedelta(days=1)
    assert review_queue.search(ctx, who, model_id, ReviewFilter(start=tomorrow)).total == 0
    users.create_user(ctx, email="queue@example.com", password="queue password", role="reviewer")
    review.assign(ctx, who, model_id, ids[3], " Queue@Example.com")
    by_assignee = review_queue.search(
        ctx, who, model_id, ReviewFilter(moderated=False), QueueOrder("assigned_to", "asc")
    )
    assignees = [f.assigned_to for f in by_assignee.files]
    named = [a for a in assignees if a]  # other tests of the shared model assign files too
    assert assignees[: len(named)] == sorted(named), "by assignee, the unassigned last"
    mine = [f.id for f in by_assignee.files if f.assigned_to == "queue@example.com"]
    assert mine == [ids[3]]
    with pytest.raises(InvalidInput, match="nobody@example.com"):
        review.assign(ctx, who, model_id, ids[3], "nobody@example.com")
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        review_queue.search(ctx, who, model_id, ReviewFilter(below=2))
    for i in ids:  # leave the shared model's queue as it was
        predictions.delete_file(ctx, who, model_id, i)
