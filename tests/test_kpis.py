"""The ROI and KPI figures (GET /api/v1/kpis, CSV) on four weeks of seeded history, and the
review time the editor sends with an approval."""

from __future__ import annotations

import csv
import io

import pytest

from docloop.ml import confidence
from docloop.services import auth, drift, kpis
from tests import kpi_history as h


@pytest.fixture
def seeded(client, ctx):  # type: ignore[no-untyped-def]
    return h.seed(ctx, auth.authenticate(ctx, "test-admin-key"))


def test_totals_follow_from_the_seeded_reviews(client, ctx, seeded) -> None:  # type: ignore[no-untyped-def]
    out = client.get("/api/v1/kpis", params={"model_id": seeded.model_id}).json()
    t = out["totals"]
    n = h.WEEKS * h.FILES_PER_WEEK
    reviewed = h.WEEKS * (h.UNCHANGED + h.CORRECTED)
    corrected = h.WEEKS * h.CORRECTED
    assert t["processed"] == n
    assert t["approved"] == h.WEEKS * (h.STRAIGHT + h.UNCHANGED + h.CORRECTED)
    assert t["automation_rate"] == round((t["approved"] - corrected) / n, 4)
    assert t["straight_through_rate"] == round(h.WEEKS * h.STRAIGHT / n, 4)
    assert t["fields_corrected_per_100"] == round(100 * corrected / n, 2)
    assert t["label_accuracy"] == {
        "date": 1.0,
        "total": round((reviewed - corrected) / reviewed, 4),
    }
    review_s = h.WEEKS * (h.UNCHANGED * h.REVIEW_S + h.CORRECTED * h.CORRECTED_REVIEW_S)
    assert t["review_seconds_per_file"] == round(review_s / reviewed, 1)
    s = ctx.settings
    saved = (
        h.WEEKS * h.STRAIGHT * 2 * s.manual_seconds_per_field
        + sum(
            2 * s.manual_seconds_per_field - r
            for r in [h.REVIEW_S] * h.UNCHANGED + [h.CORRECTED_REVIEW_S] * h.CORRECTED
        )
        * h.WEEKS
    )
    assert t["time_saved_hours"] == round(saved / 3600, 3)
    machine = n * h.PREDICT_S / 3600 * s.cpu_hour_cost
    people = review_s / 3600 * s.reviewer_hour_cost
    assert t["cost_per_document"] == round((machine + people) / n, 4)
    assert t["training_cost"] == round(2 * h.TRAINING_COST, 4)
    money = t["approved"] * s.manual_document_cost - machine - people - 2 * h.TRAINING_COST
    assert t["money_saved"] == round(money, 2)
    assert out["weeks"][-1]["money_saved_to_date"] == pytest.approx(money, abs=0.05)
    assert sum(w["processed"] for w in out["weeks"]) == n

    d = out["delivery"]
    assert d["models_created"] == d["models_in_production"] == 1 and d["production_share"] == 1.0
    hours = (seeded.first_served_at - seeded.created_at).total_seconds() / 3600
    assert d["hours_to_first_version"] == pytest.approx(hours, abs=0.01)
    better = (seeded.better_at - seeded.created_at).total_seconds() / 3600
    assert d["hours_to_better_version"] == pytest.approx(better, abs=0.01)
    assert d["months"] == [{"month": seeded.first_served_at.strftime("%Y-%m"),
                            "models_delivered": 1}]  # fmt: skip
    assert set(out["definitions"]) == set(kpis.FIGURES)


def test_the_last_week_shows_the_drift(client, seeded) -> None:  # type: ignore[no-untyped-def]
    weeks = client.get("/api/v1/kpis", params={"model_id": seeded.model_id}).json()["weeks"]
    busy = [w for w in weeks if w["processed"]]
    # 10 totals per week: the default minimum of 100 fields leaves the PSI unmeasured
    assert all(w["monitoring"]["psi"]["total"] is None for w in busy)
    assert busy[-1]["monitoring"]["low_confidence_share"] == 1.0
    assert busy[0]["monitoring"]["low_confidence_share"] == 0.0
    assert busy[0]["monitoring"]["latency_p95_s"] == h.PREDICT_S


def test_workspace_scope_and_csv_tables(client, seeded) -> None:  # type: ignore[no-untyped-def]
    whole = client.get("/api/v1/kpis").json()
    assert whole["scope"]["model_id"] is None and "monitoring" not in whole["weeks"][0]
    assert whole["totals"]["processed"] == h.WEEKS * h.FILES_PER_WEEK
    resp = client.get("/api/v1/kpis", params={"model_id": seeded.model_id, "format": "csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    api = client.get("/api/v1/kpis", params={"model_id": seeded.model_id}).json()["weeks"]
    assert [r["week"] for r in rows] == [w["week"] for w in api]
    assert [float(r["money_saved_to_date"]) for r in rows] == [
        w["money_saved_to_date"] for w in api
    ]
    for table in kpis.TABLES:
        got = client.get("/api/v1/kpis", params={"model_id": seeded.model_id, "format": "csv",
                                                 "table": table})  # fmt: skip
        assert got.status_code == 200 and got.text.count("\n") >= 2, table
    refused = client.get("/api/v1/kpis", params={"format": "csv", "table": "monitoring"})
    assert refused.status_code == 400 and "model_id" in refused.json()["message"]


@pytest.mark.parametrize(
    "params",
    [{"format": "xml"}, {"table": "nope", "format": "csv"},
     {"start": "2026-05-01", "end": "2026-04-01"}, {"start": "2001-01-01"},
     {"model_id": "missing"}, {"start": "yesterday"}],
)  # fmt: skip
def test_bad_requests_get_a_clear_4xx(client, params) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/api/v1/kpis", params=params)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    ref = confidence.histogram([0.9 + i / 1000 for i in range(100)])
    same = confidence.histogram([0.9 + i / 1000 + 0.0005 for i in range(100)])
    low = confidence.histogram([0.3 + i / 500 for i in range(100)])
    assert confidence.psi(ref, same) < 0.01
    assert confidence.psi(ref, low) > 1.0
    with pytest.raises(ValueError):
        confidence.psi(ref, [0] * len(ref))


def test_the_served_figures_weigh_each_version_by_its_fields() -> None:
    from datetime import UTC, datetime

    from docloop.services.file_facts import FileFacts

    def facts(version: str, score: float) -> FileFacts:
        return FileFacts("m", version, datetime(2026, 1, 1, tzinfo=UTC), False, False, False,
                         1, 1, 0, None, 0.2, {}, {"total": [score]})  # fmt: skip

    high = confidence.histogram([0.995] * 50)
    low = confidence.histogram([0.55] * 50)
    refs = {"a": {"total": high}, "b": {"total": low}}
    mixed = [facts("a", 0.995)] * 40 + [facts("b", 0.55)] * 40
    out = drift.figures(mixed, refs, low_confidence=0.5, min_fields=30)
    assert out.psi["total"] is not None and out.psi["total"] < 0.01
    slid = [facts("a", 0.55)] * 40 + [facts("b", 0.55)] * 40  # version a's fields slid
    assert drift.figures(slid, refs, low_confidence=0.5, min_fields=30).psi["total"] > 1


def test_the_editor_review_time_is_summed_and_capped(trained_client) -> None:  # type: ignore[no-untyped-def]
    from docloop.samples import PLATES

    client, model_id = trained_client
    image = sorted((PLATES / "images").glob("*.jpg"))[-1]
    page = client.post(f"/api/v1/models/{model_id}/predictions",
                       files={"file": (image.name, image.read_bytes())}).json()["pages"][0]  # fmt: skip
    file_id = page["request_file_id"]
    url = f"/api/v1/models/{model_id}/predictions/{file_id}/approval"
    assert client.put(url, json={"review_seconds": -1}).status_code == 422
    assert client.put(url, json={"review_seconds": 12.5}).status_code == 200
    assert client.put(url, json={"review_seconds": 10**6}).status_code == 200
    assert client.put(url).status_code == 200  # an API client that measures nothing
    ctx = client.app.state.ctx
    from docloop.db.tables import InferenceFile, ModelVersion

    with ctx.session() as s:
        row = s.get(InferenceFile, file_id)
        assert row.review_seconds == 12.5 + ctx.settings.review_seconds_max
        assert row.predict_seconds and row.predict_seconds > 0
        version = s.get(ModelVersion, row.model_version_id)
        hist = version.metrics["val_confidence"]
    assert hist["edges"] == list(confidence.EDGES) and sum(hist["counts"]["number_plate"]) > 0
    out = client.get("/api/v1/kpis", params={"model_id": model_id}).json()
    assert out["totals"]["processed"] >= 1 and out["totals"]["review_seconds_per_file"]


def test_the_figures_are_the_same_on_each_database(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = auth.authenticate(db_ctx, "test-admin-key")
    history = h.seed(db_ctx, who)
    out = kpis.compute(db_ctx, who, model_id=history.model_id)
    assert out.totals.processed == h.WEEKS * h.FILES_PER_WEEK
    assert out.totals.label_accuracy["date"] == 1.0
    assert out.delivery.production_share == 1.0
    assert out.weeks[-1].money_saved_to_date == pytest.approx(out.totals.money_saved, abs=0.05)
