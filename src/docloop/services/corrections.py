"""What reviewers change, kept: a log of every change, and approved files as training data.

An approved prediction is a labelled example the model has not seen: the file (already stored
and OCR-ed) with the reviewed fields becomes a training file of the model, marked with where it
came from, so the next training learns from the corrections. Un-approving takes it out again;
the corrections themselves stay on the prediction and in the log.

An approved file left with no field (every one marked wrong, or none found) adds nothing: it is
not a negative example, because a field marked wrong is usually a right place read wrongly, and
"nothing here" would teach the model to miss it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from docloop.db.tables import InferenceFile, InferencePage, Model, PredictionChange, TrainingFile
from docloop.services.routing import read_fields

REVIEW_SOURCE = "review:"


def record_change(
    session: Session, file_id: str, page: int, action: str, detail: dict[str, Any], by: str
) -> None:
    session.add(PredictionChange(file_id=file_id, page=page, action=action, detail=detail, by=by))


def sync_training_file(session: Session, row: InferenceFile) -> None:
    """Make the model's training data match the file's approval: add, update or remove."""
    source = REVIEW_SOURCE + row.id
    existing = session.scalar(select(TrainingFile).where(TrainingFile.source == source))
    if not row.moderated:
        _remove(session, existing)
        return
    pages = session.scalars(
        select(InferencePage).where(InferencePage.file_id == row.id).order_by(InferencePage.page)
    ).all()
    model = session.get(Model, row.model_id)
    threshold = model.review_threshold if model is not None else None
    kept = {id(p) for p in read_fields([p for page in pages for p in page.predictions], threshold)}
    annotations = [
        {
            "label": p["label"],
            "box": {k: p[k] for k in ("xmin", "ymin", "xmax", "ymax")},
            "text": p.get("ocr_text") or None,
            "page": page.page,
        }
        for page in pages
        for p in page.predictions
        if id(p) in kept
    ]
    if not annotations:  # nothing a person stands behind: not a labelled example
        _remove(session, existing)
        return
    if existing is None:
        existing = TrainingFile(
            id=str(uuid.uuid4()), model_id=row.model_id, filename=row.filename,
            blob_hash=row.blob_hash, media_type=row.media_type, source=source,
        )  # fmt: skip
        session.add(existing)
    existing.pages = [{"width": p.width, "height": p.height} for p in pages]
    existing.annotations = annotations


def _remove(session: Session, existing: TrainingFile | None) -> None:
    if existing is not None:
        session.execute(delete(TrainingFile).where(TrainingFile.id == existing.id))


def in_training(session: Session, file_id: str) -> bool:
    """Whether the approved file is training data of its model (``sync_training_file``)."""
    source = REVIEW_SOURCE + file_id
    return session.scalar(select(TrainingFile.id).where(TrainingFile.source == source)) is not None
