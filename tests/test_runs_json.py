"""A training run's JSON as the API answers it (an untracked run: no MLflow fields)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from docloop.db.tables import TrainingRun
from docloop.services import auth, models
from docloop.services.context import AppContext

RECORD = {
    "model_id", "status", "started_at", "finished_at", "dataset_version_id", "model_version",
    "promoted", "promotion", "error", "mlflow_run_id", "cached_steps", "id",
}  # fmt: skip


def _untracked_run(ctx: AppContext, run_id: str) -> str:
    model = models.create_model(ctx, auth.authenticate(ctx, "test-admin-key"), categories=["x"])
    with ctx.session() as s:
        s.add(TrainingRun(
            id=run_id, model_id=model.id, status="failed", error="no files",
            steps=[{"name": "ocr", "cached": True}, {"name": "train"}],
            report={"promoted": False}, started_at=datetime(2026, 1, 2, tzinfo=UTC),
        ))  # fmt: skip
        s.commit()
    return model.id


def test_an_untracked_run_answers_its_record_without_mlflow_fields(
    ctx: AppContext, client: TestClient
) -> None:
    model_id = _untracked_run(ctx, "run-aaaaaaaa")
    shown = client.get("/api/v1/runs/run-aaaa").json()
    assert set(shown) == RECORD | {"report", "steps"}
    assert shown["cached_steps"] == ["ocr"] and shown["promoted"] is False
    assert shown["finished_at"] is None and shown["started_at"].startswith("2026-01-02T00:00")
    [listed] = client.get(f"/api/v1/models/{model_id}/runs").json()
    assert listed == {**{k: shown[k] for k in RECORD}, "metrics": {}}


def test_comparing_untracked_runs_lines_up_nothing(ctx: AppContext, client: TestClient) -> None:
    _untracked_run(ctx, "run-bbbbbbbb")
    found = client.get("/api/v1/runs/compare", params={"ids": "run-bbbbbbbb,run-bbbb"}).json()
    assert found == {"runs": ["run-bbbbbbbb"] * 2, "params": {}, "metrics": {}, "differs": []}
