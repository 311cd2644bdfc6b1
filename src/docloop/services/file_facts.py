"""What each predicted file tells the KPI dashboard and the drift monitor: when it was
predicted, by which version, how confident each field was, how long the prediction and the
review took, and which fields the reviewer changed.

A field is judged by comparing the page as the model predicted it (the ``before`` of the
page's first logged change, or the page itself when nobody changed it) with the page as
approved: a predicted field is right when it is still there with the same label, text and box.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import InferenceFile, InferencePage, Model, PredictionChange
from docloop.services.predictions import DONE, STRAIGHT_THROUGH
from docloop.services.review import CORRECTIONS
from docloop.services.routing import read_fields

SAME = ("label", "ocr_text", "xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """One predicted file, as the figures read it."""

    model_id: str
    version_id: str | None
    created_at: datetime
    approved: bool
    straight_through: bool
    corrected: bool  # a reviewer logged any correction (``review.CORRECTIONS``)
    fields: int  # fields the document holds: as approved, else as predicted
    predicted_fields: int
    fields_corrected: int  # predicted fields changed or removed, plus fields added
    review_seconds: float | None
    predict_seconds: float | None
    # label -> (fields judged, fields right), for files a person approved
    judged: dict[str, tuple[int, int]] = field(default_factory=dict)
    # label -> confidence of each predicted field (alternatives included, as validation's)
    scores: dict[str, list[float]] = field(default_factory=dict)

    @property
    def reviewed(self) -> bool:
        """Approved by a person (not by the routing rules)."""
        return self.approved and not self.straight_through


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def aware(when: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored is UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load(session: Session, models: list[Model], start: datetime, end: datetime) -> list[FileFacts]:
    """The facts of every finished prediction of ``models`` created in [start, end)."""
    if not models:
        return []
    thresholds = {m.id: m.review_threshold for m in models}
    rows = session.scalars(
        select(InferenceFile)
        .where(
            InferenceFile.model_id.in_(list(thresholds)),
            InferenceFile.status == DONE,
            InferenceFile.created_at >= start,
            InferenceFile.created_at < end,
        )
        .order_by(InferenceFile.created_at)
    ).all()
    ids = [r.id for r in rows]
    pages: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    originals: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    corrected: set[str] = set()
    for chunk in _chunks(ids):
        for p in session.scalars(select(InferencePage).where(InferencePage.file_id.in_(chunk))):
            pages[p.file_id][p.page] = list(p.predictions)
        for c in session.scalars(
            select(PredictionChange)
            .where(PredictionChange.file_id.in_(chunk))
            .order_by(PredictionChange.id)
        ):
            if c.action in CORRECTIONS:
                corrected.add(c.file_id)
            before = c.detail.get("before") if isinstance(c.detail, dict) else None
            if isinstance(before, list):
                originals[c.file_id].setdefault(c.page, before)
    return [
        _facts(r, pages[r.id], originals[r.id], r.id in corrected, thresholds[r.model_id])
        for r in rows
    ]


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _facts(
    row: InferenceFile,
    pages: dict[int, list[dict[str, Any]]],
    originals: dict[int, list[dict[str, Any]]],
    corrected: bool,
    threshold: float | None,
) -> FileFacts:
    predicted = [p for n, page in pages.items() for p in originals.get(n, page)]
    final = [p for page in pages.values() for p in page]
    predicted_fields = read_fields(predicted, threshold)
    final_fields = read_fields(final, threshold)
    scores: dict[str, list[float]] = defaultdict(list)
    for p in predicted:
        scores[p["label"]].append(float(p.get("score", 1.0)))
    straight = row.moderated_by == STRAIGHT_THROUGH
    judged: dict[str, tuple[int, int]] = {}
    changed = 0
    if row.moderated and not straight:
        now = {p["id"]: p for p in final_fields}
        before_ids = {p["id"] for p in predicted_fields}
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for p in predicted_fields:
            right = p["id"] in now and all(now[p["id"]].get(k) == p.get(k) for k in SAME)
            tally[p["label"]][0] += 1
            tally[p["label"]][1] += right
            changed += not right
        for p in final_fields:
            if p["id"] not in before_ids:  # drawn by the reviewer, or a confirmed alternative
                tally[p["label"]][0] += 1
                changed += 1
        judged = {k: (v[0], v[1]) for k, v in tally.items()}
    return FileFacts(
        model_id=row.model_id,
        version_id=row.model_version_id,
        created_at=aware(row.created_at),
        approved=row.moderated,
        straight_through=row.moderated and straight,
        corrected=corrected,
        fields=len(final_fields if row.moderated else predicted_fields),
        predicted_fields=len(predicted_fields),
        fields_corrected=changed,
        review_seconds=row.review_seconds,
        predict_seconds=row.predict_seconds,
        judged=judged,
        scores=dict(scores),
    )
