"""Annotation quality control: second reviews sampled from approvals, blind and kept apart from
the approved data; agreement per label with a hand-computed Cohen's kappa; annotator figures;
the annotation checks of the validation report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docloop.api.app import create_app
from docloop.api.deps import CSRF_HEADER, SESSION_COOKIE
from docloop.db.tables import PredictionChange, TrainingFile, utcnow
from docloop.domain import Annotation, Box, OcrToken
from docloop.ml import annotation_checks
from docloop.ml.data import LabelledPage
from docloop.services import auth, models, predictions, quality, review_time, users
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from tests import kpi_history as h
from tests.conftest import basic

PASSWORD = "a long enough password"
TOTAL_BOX = {"xmin": 500.0, "ymin": 500.0, "xmax": 600.0, "ymax": 530.0}
DATE_BOX = {"xmin": 500.0, "ymin": 40.0, "xmax": 620.0, "ymax": 70.0}


def _person(
    ctx: AppContext, app: Any, email: str, role: str = "reviewer"
) -> tuple[Principal, TestClient]:
    """A signed-in person (a reviewer unless ``role`` says otherwise): their principal and an
    API client (of the running ``app``) holding their browser session."""
    users.create_user(ctx, email=email, password=PASSWORD, role=role)
    secret, signed = users.sign_in(ctx, email, PASSWORD)
    client = TestClient(app, headers={CSRF_HEADER: signed.csrf_token})
    client.cookies.set(SESSION_COOKIE, secret)
    return signed.principal, client


def _waiting_file(ctx: AppContext, model_id: str) -> str:
    """A predicted file waiting for review: total "12.50" and date "2026-11-02"."""
    return h._file(ctx, model_id, None, utcnow() - timedelta(minutes=5), (0.9, 0.9), 99)[0]


def _correct_total(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> None:
    page = predictions.get_file(ctx, who, model_id, file_id).result[0]
    fixed = [{**p, "ocr_text": "125.00", "status": "corrected"} if p["label"] == "total" else p
             for p in page.prediction]  # fmt: skip
    predictions.update_page(ctx, who, model_id, {
        "id": page.id, "request_file_id": file_id, "prediction": fixed,
        "change": {"action": "edit_text"},
    })  # fmt: skip


def _fields(total: str, date_box: dict[str, float] = DATE_BOX) -> list[dict[str, Any]]:
    return [
        {"page": 0, "label": "total", "ocr_text": total, **TOTAL_BOX},
        {"page": 0, "label": "date", "ocr_text": "2026-11-02", **date_box},
    ]


@pytest.fixture
def team(db_ctx: AppContext) -> Iterator[dict[str, Any]]:
    """A model and three signed-in reviewers, on SQLite and (when configured) PostgreSQL."""
    with TestClient(create_app(db_ctx.settings, ctx=db_ctx), headers=basic("test-admin-key")) as c:
        admin = auth.authenticate(db_ctx, "test-admin-key")
        model = models.create_model(db_ctx, admin, categories=h.LABELS, name="invoices")
        people = {n: _person(db_ctx, c.app, f"{n}@example.com") for n in ("alice", "bob", "carol")}
        yield {"ctx": db_ctx, "model_id": model.id, "admin": c, **people}
        for _, person in people.values():
            person.close()


def test_a_share_of_approvals_goes_blind_to_a_second_reviewer(team) -> None:  # type: ignore[no-untyped-def]
    ctx = team["ctx"]
    model_id = team["model_id"]
    alice, _ = team["alice"]
    _, bob = team["bob"]
    _, carol = team["carol"]
    r = team["admin"].put(f"/api/v1/models/{model_id}/second-review", json={"share": 0.5})
    assert r.status_code == 200 and r.json()["second_review_share"] == 0.5
    assert (
        team["admin"].put(f"/api/v1/models/{model_id}/second-review", json={"share": 2}).status_code
        == 422
    )

    files = [_waiting_file(ctx, model_id) for _ in range(4)]
    _correct_total(ctx, alice, model_id, files[1])
    for f in files:
        predictions.set_moderated(ctx, alice, model_id, f, True)

    # Half of alice's approvals: her 2nd and 4th, one to each other reviewer (least busy first).
    mine = bob.get("/api/v1/second-reviews").json()
    theirs = carol.get("/api/v1/second-reviews").json()
    assert [x["request_file_id"] for x in mine] == [files[1]]
    assert [x["request_file_id"] for x in theirs] == [files[3]]
    assert team["alice"][1].get("/api/v1/second-reviews").json() == []
    # Blind: bob sees what the model read (12.50), not alice's correction nor her name.
    shown = mine[0]
    assert {p["label"]: p["text"] for p in shown["predicted"]} == {
        "total": "12.50", "date": "2026-11-02"
    }  # fmt: skip
    assert "alice" not in str(shown) and "125.00" not in str(shown)
    # One of them, for the blind editor: each page's size and which readings the model doubted.
    url = f"/api/v1/second-reviews/{shown['id']}"
    one = bob.get(url).json()
    assert [sorted(p) for p in one["pages"]] == [["height", "page", "width"]]
    assert [p["alternative"] for p in one["predicted"]] == [False, False]
    assert "alice" not in str(one) and "125.00" not in str(one)
    assert carol.get(url).status_code == 403
    assert bob.get("/api/v1/second-reviews/nope").status_code == 404

    with ctx.session() as s:
        training_before = s.query(TrainingFile).filter_by(source="review:" + files[1]).one()
        annotations_before = list(training_before.annotations)
        changes_before = s.query(PredictionChange).count()
    bad = bob.put(url, json={"fields": [{"label": "colour", "ocr_text": "x", **TOTAL_BOX}]})
    assert bad.status_code == 400 and "colour" in bad.json()["message"]
    assert bob.put(url, json={"fields": "12.50"}).status_code == 400
    assert bob.put(url, json={"fields": [{**_fields("1")[0], "xmax": 400}]}).status_code == 400
    assert bob.put("/api/v1/second-reviews/nope", json={"fields": []}).status_code == 404
    assert carol.put(url, json={"fields": _fields("125.00")}).status_code == 403
    done = bob.put(url, json={"fields": _fields("12.80")})
    assert done.status_code == 200 and done.json()["decided_at"]
    assert bob.put(url, json={"fields": _fields("12.80")}).status_code == 409
    assert bob.get("/api/v1/second-reviews").json() == []
    assert len(bob.get("/api/v1/second-reviews", params={"decided": True}).json()) == 1

    # The second decision never touches the approved data or the change log.
    with ctx.session() as s:
        training = s.query(TrainingFile).filter_by(source="review:" + files[1]).one()
        assert training.annotations == annotations_before
        assert s.query(PredictionChange).count() == changes_before
    page = predictions.get_file(ctx, alice, model_id, files[1]).result[0]
    assert {p["label"]: p["ocr_text"] for p in page.prediction}["total"] == "125.00"


def test_agreement_per_label_with_hand_computed_kappa(team) -> None:  # type: ignore[no-untyped-def]
    """Five files approved by alice (60 s each), every one second-reviewed by bob or carol.

    total: alice kept 12.50 on files 1, 3, 5 and corrected it to 125.00 on 2 and 4; the second
    reviewer wrote 12.50 on 1, 4, 5, 125.00 on 2 and 12.80 on 3. Same text on 1, 2, 5: 3/5.
    Correct/wrong marks: CC, WW, CW, WC, CC: p_o = 3/5, p_e = .6 x .6 + .4 x .4 = .52,
    kappa = (.6 - .52) / (1 - .52) = 1/6. Boxes all agree.
    date: same text everywhere; the second reviewer moved file 5's box off (IoU < 0.5): box
    agreement 4/5, marks CC x4 and CW: p_o = .8, p_e = 1 x .8 = .8, kappa 0."""
    ctx = team["ctx"]
    model_id = team["model_id"]
    alice, _ = team["alice"]
    team["admin"].put(f"/api/v1/models/{model_id}/second-review", json={"share": 1})
    files = [_waiting_file(ctx, model_id) for _ in range(5)]
    for n, f in enumerate(files):
        if n in (1, 3):
            _correct_total(ctx, alice, model_id, f)
        predictions.set_moderated(ctx, alice, model_id, f, True)
        review_time.record(ctx, alice, model_id, f, 60.0)
    moved = {"xmin": 100.0, "ymin": 300.0, "xmax": 220.0, "ymax": 330.0}
    second = {files[0]: _fields("12.50"), files[1]: _fields("125.00"),
              files[2]: _fields("12.80"), files[3]: _fields("12.50"),
              files[4]: _fields("12.50", moved)}  # fmt: skip
    for name in ("bob", "carol"):
        _, c = team[name]
        for item in c.get("/api/v1/second-reviews").json():
            url = f"/api/v1/second-reviews/{item['id']}"
            assert c.put(url, json={"fields": second[item["request_file_id"]]}).status_code == 200

    out = team["admin"].get("/api/v1/quality", params={"model_id": model_id}).json()
    labels = out["agreement"]["labels"]
    assert out["agreement"]["second_reviews"] == 5
    assert labels["total"] == {"fields": 5, "text_agreement": 0.6, "box_agreement": 1.0,
                               "kappa": round(1 / 6, 4), "marks": 5}  # fmt: skip
    assert labels["date"] == {"fields": 5, "text_agreement": 1.0, "box_agreement": 0.8,
                              "kappa": 0.0, "marks": 5}  # fmt: skip
    [week] = out["agreement"]["weeks"]
    assert week["labels"] == labels
    [row] = out["annotators"]
    assert row["reviewer"] == "alice@example.com"
    assert (row["files"], row["fields"], row["review_hours"]) == (5, 10, round(300 / 3600, 3))
    assert (row["files_per_hour"], row["fields_per_hour"]) == (60.0, 120.0)
    assert row["correction_rate"] == 0.4  # files 2 and 4
    assert row["disagreement_rate"] == 0.6  # files 3, 4 and 5
    bad = team["admin"].get("/api/v1/quality", params={"start": "2026-12-02", "end": "2026-12-01"})
    assert bad.status_code == 400
    assert team["admin"].get("/api/v1/quality", params={"model_id": "nope"}).status_code == 404


def test_kappa_and_outliers() -> None:
    # 10 marks: both yes on 4, both no on 3, first-only yes on 2, second-only yes on 1.
    marks = [(True, True)] * 4 + [(False, False)] * 3 + [(True, False)] * 2 + [(False, True)]
    # p_o = .7; first yes .6, second yes .5; p_e = .6 x .5 + .4 x .5 = .5; kappa = .2 / .5
    assert quality.kappa(marks) == 0.4
    assert quality.kappa([(True, True)] * 3) is None
    assert quality.outliers([0.1, 0.12, 0.11, 0.9]) == {3: True}
    assert quality.outliers([0.1, 0.12, 0.11, 0.1]) == {}
    assert quality.outliers([0.1, 0.9]) == {}  # too few reviewers to have a usual


def _words(*items: tuple[str, float, float]) -> list[OcrToken]:
    return [OcrToken(t, Box(x, y, x + 40, y + 20), 0.9) for t, x, y in items]


def test_annotation_checks_find_likely_slips() -> None:
    words = _words(("HR26DA2330", 100, 100), ("TOTAL", 10, 10))
    plate = Box(95, 95, 145, 125)
    pages = [
        LabelledPage(words, 400, 300, [Annotation("plate", plate, "HR26DA2330")], "g1", "a:0"),
        # A typo-free text over the wrong words: flagged.
        LabelledPage(
            words, 400, 300, [Annotation("plate", Box(5, 5, 55, 35), "HR26DA2330")], "g2", "b:0"
        ),  # fmt: skip
        # Near-duplicate of page a, the same text under another label: inconsistent.
        LabelledPage(words, 400, 300, [Annotation("colour", plate, "HR26DA2330")], "g1", "c:0"),
        # Agrees with its OCR up to an O/0 misread: not flagged.
        *[
            LabelledPage(
                words, 400, 300, [Annotation("plate", plate, "HR26DA233O")], f"s{i}", f"s{i}:0"
            )
            for i in range(3)
        ],  # fmt: skip
        # A box around the whole page: far from the plate's usual size.
        LabelledPage(words, 400, 300, [Annotation("plate", Box(0, 0, 400, 300), None)], "w", "w:0"),
    ]
    checks = annotation_checks.run(pages, {"a": "a.jpg", "b": "b.jpg", "c": "c.jpg", "w": "w.jpg"})

    [typo] = checks["text_disagrees_with_ocr"]
    assert (typo["filename"], typo["text"], typo["ocr_text"]) == ("b.jpg", "HR26DA2330", "TOTAL")
    [mixed] = checks["inconsistent_labels"]
    assert mixed["text"] == "HR26DA2330"
    assert mixed["labels"] == {"colour": [{"filename": "c.jpg", "page": 0}],
                               "plate": [{"filename": "a.jpg", "page": 0}]}  # fmt: skip
    [big] = checks["unusual_box_sizes"]
    assert big["filename"] == "w.jpg" and big["times_usual"] > annotation_checks.SIZE_FACTOR
    assert len(annotation_checks.warnings(checks)) == 3


def test_the_validation_report_of_a_training_holds_the_annotation_checks(trained) -> None:  # type: ignore[no-untyped-def]
    context, model_id = trained
    with context.session() as s:
        from docloop.db.tables import TrainingRun

        report = s.query(TrainingRun).filter_by(model_id=model_id).first().report
    checks = report["annotation_checks"]
    assert set(checks) == {"text_disagrees_with_ocr", "inconsistent_labels", "unusual_box_sizes"}
    assert all(isinstance(v, list) for v in checks.values())
