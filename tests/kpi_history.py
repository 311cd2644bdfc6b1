"""A model with four weeks of seeded history, for the KPI dashboard and drift monitoring tests.

Versions, production changes and training runs are rows (training for real would take minutes
and give no control over the dates); the predictions are rows dated in past weeks, and every
review on them goes through the real services (corrections, approvals, review time), so the
change log is what the editor writes.

Each of the four weeks has ``FILES_PER_WEEK`` files of two fields (``total``, ``date``):
3 approved straight through, 4 approved by a reviewer unchanged (20 s each), 2 approved after
the reviewer fixed the total's text (60 s each), 1 waiting. In the last week (the monitoring
window) the model read the totals with much lower confidence than validation saw: drift.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from docloop.db.tables import (
    InferenceFile,
    InferencePage,
    Model,
    ModelVersion,
    ProductionChange,
    TrainingRun,
    utcnow,
)
from docloop.ml import confidence
from docloop.services import models, predictions, review_time
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.predictions import DONE, STRAIGHT_THROUGH, epoch_day

WEEKS = 4
FILES_PER_WEEK = 10
STRAIGHT, UNCHANGED, CORRECTED = 3, 4, 2  # and one file left waiting
REVIEW_S, CORRECTED_REVIEW_S, PREDICT_S = 20.0, 60.0, 0.5
TRAINING_COST = 0.12
LABELS = ["total", "date"]


@dataclass(frozen=True)
class History:
    model_id: str
    created_at: datetime
    first_served_at: datetime
    better_at: datetime


def _scores(rng: random.Random, n: int, low: float, high: float) -> list[float]:
    return [round(rng.uniform(low, high), 4) for _ in range(n)]


def seed(ctx: AppContext, who: Principal) -> History:
    """Create the model and its history; returns its id and the dates the delivery figures
    should find."""
    rng = random.Random(7)
    now = utcnow()
    created = now - timedelta(days=7 * WEEKS + 14)
    info = models.create_model(ctx, who, categories=LABELS, name="invoices")
    reference = {k: confidence.histogram(_scores(rng, 200, 0.9, 1.0)) for k in LABELS}
    versions = []
    with ctx.session() as s:
        model = s.get(Model, info.id)
        assert model is not None
        model.created_at = created
        for number, (days, score) in enumerate([(2, 0.8), (9, 0.9)], start=1):
            at = created + timedelta(days=days)
            version = ModelVersion(
                id=str(uuid.uuid4()), model_id=model.id, number=number, artifact_hash="0" * 64,
                metrics={"val_text_accuracy": score,
                         "val_confidence": {"edges": list(confidence.EDGES), "counts": reference}},
                train_seconds=60.0, created_at=at,
            )  # fmt: skip
            s.add(version)
            s.add(ProductionChange(model_id=model.id, version_id=version.id,
                                   previous_version_id=model.production_version_id, action="auto",
                                   reason="seeded", by="training", at=at))  # fmt: skip
            s.add(TrainingRun(id=str(uuid.uuid4()), model_id=model.id, status="succeeded",
                              steps=[], model_version_id=version.id, started_at=at,
                              finished_at=at, announced_at=at,
                              report={"cost": {"cost_estimate": TRAINING_COST}}))  # fmt: skip
            model.production_version_id = version.id
            versions.append(at)
        served = model.production_version_id
    files = []
    for week in range(WEEKS):
        drifted = week == WEEKS - 1
        for i in range(FILES_PER_WEEK):
            when = now - timedelta(days=7 * (WEEKS - 1 - week) + 1, hours=i)
            total = _scores(rng, 1, 0.2, 0.45)[0] if drifted else _scores(rng, 1, 0.9, 1.0)[0]
            date = _scores(rng, 1, 0.9, 1.0)[0]  # as validation saw, every week
            files.append(_file(ctx, info.id, served, when, (total, date), i))
    for file_id, i in files:
        _review(ctx, who, info.id, file_id, i)
    return History(info.id, created, versions[0], versions[1])


def add_recent(ctx: AppContext, model_id: str, n: int) -> None:
    """``n`` more files predicted in the last day, waiting for review, with the drifted totals
    and in-distribution dates: a PSI over a hundred fields or more is not noise (with ten, a
    distribution like validation's can score over 0.25 by chance)."""
    rng = random.Random(11)
    now = utcnow()
    with ctx.session() as s:
        version_id = s.get(Model, model_id).production_version_id  # type: ignore[union-attr]
    for i in range(n):
        scores = (_scores(rng, 1, 0.2, 0.45)[0], _scores(rng, 1, 0.9, 1.0)[0])
        _file(ctx, model_id, version_id, now - timedelta(minutes=i + 1), scores, 99)


def _file(
    ctx: AppContext,
    model_id: str,
    version_id: str | None,
    when: datetime,
    scores: tuple[float, float],
    i: int,
) -> tuple[str, int]:
    file_id = str(uuid.uuid4())
    with ctx.session() as s:
        s.add(InferenceFile(
            id=file_id, model_id=model_id, filename=f"invoice-{file_id[:8]}.png",
            blob_hash="0" * 64, media_type="image/png", status=DONE, model_version_id=version_id,
            moderated=i < STRAIGHT, moderated_at=when if i < STRAIGHT else None,
            moderated_by=STRAIGHT_THROUGH if i < STRAIGHT else None, predict_seconds=PREDICT_S,
            day=epoch_day(when), created_at=when,
        ))  # fmt: skip
        s.flush()
        s.add(InferencePage(
            id=str(uuid.uuid4()), file_id=file_id, page=0, width=800, height=600,
            predictions=[
                {"id": str(uuid.uuid4()), "label": "total", "type": "field", "xmin": 500,
                 "ymin": 500, "xmax": 600, "ymax": 530, "score": scores[0], "ocr_text": "12.50",
                 "page_no": 0, "status": "correctly_predicted"},
                {"id": str(uuid.uuid4()), "label": "date", "type": "field", "xmin": 500,
                 "ymin": 40, "xmax": 620, "ymax": 70, "score": scores[1], "ocr_text": "2026-11-02",
                 "page_no": 0, "status": "correctly_predicted"},
            ],
        ))  # fmt: skip
    return file_id, i


def _review(ctx: AppContext, who: Principal, model_id: str, file_id: str, i: int) -> None:
    """What a reviewer did to file number ``i`` of its week, through the services."""
    if i < STRAIGHT or i >= STRAIGHT + UNCHANGED + CORRECTED:
        return
    seconds = REVIEW_S
    if i >= STRAIGHT + UNCHANGED:
        page = predictions.get_file(ctx, who, model_id, file_id).result[0]
        fixed = [{**p, "ocr_text": "125.00", "status": "corrected"}
                 if p["label"] == "total" else p for p in page.prediction]  # fmt: skip
        predictions.update_page(ctx, who, model_id, {
            "id": page.id, "request_file_id": file_id, "prediction": fixed,
            "change": {"action": "edit_text"},
        })  # fmt: skip
        seconds = CORRECTED_REVIEW_S
    predictions.set_moderated(ctx, who, model_id, file_id, True)
    review_time.record(ctx, who, model_id, file_id, seconds)
