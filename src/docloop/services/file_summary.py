"""Per-file summary columns the review queue filters and sorts on in SQL.

A file is listed by its fields (``routing.read_fields``: none marked wrong, no alternative
nobody confirmed): how many there are, how many are flagged, the lowest confidence and which
labels they carry (in one text column, so the label filter needs no join). These are derived
from the stored predictions, so every write of predictions calls ``summarize`` in the same unit
of work, and a change of the model's threshold (which decides what an alternative is) calls
``refresh_model``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import InferenceFile, InferencePage
from docloop.services.routing import read_fields

BATCH = 500
LABEL_SEP = "\x1f"  # the ASCII unit separator: not typed into a label name


@dataclass(frozen=True, slots=True)
class Summary:
    field_count: int
    flagged_count: int
    min_score: float | None
    labels: list[str]

    @property
    def joined_labels(self) -> str:
        """The labels as stored: each between two ``LABEL_SEP``, so a label filter is one
        substring test on the file's row (no join); "" without fields."""
        return LABEL_SEP + LABEL_SEP.join(self.labels) + LABEL_SEP if self.labels else ""


def summary_of(predictions: list[dict[str, Any]], threshold: float | None) -> Summary:
    """What the queue knows of a file, from all its pages' predictions."""
    fields = read_fields(predictions, threshold)
    scores = [float(p.get("score", 1)) for p in fields]
    return Summary(
        field_count=len(fields),
        flagged_count=sum(bool(p.get("flags")) for p in fields),
        min_score=round(min(scores), 4) if scores else None,
        labels=sorted({p["label"] for p in fields}),
    )


def summarize(
    session: Session, row: InferenceFile, predictions: list[dict[str, Any]], threshold: float | None
) -> None:
    """Set the row's summary columns and label rows from all its pages' predictions."""
    found = summary_of(predictions, threshold)
    row.field_count, row.flagged_count = found.field_count, found.flagged_count
    row.min_score, row.labels = found.min_score, found.joined_labels


def label_term(label: str) -> str:
    """What ``labels`` contains when the file has a field of ``label``."""
    return f"{LABEL_SEP}{label}{LABEL_SEP}"


def split_labels(joined: str) -> list[str]:
    return [x for x in joined.split(LABEL_SEP) if x]


def refresh(session: Session, rows: Iterable[InferenceFile], threshold: float | None) -> None:
    """Recompute the summaries of ``rows`` from their stored pages."""
    by_id = {r.id: r for r in rows}
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in by_id}
    for page in session.scalars(
        select(InferencePage)
        .where(InferencePage.file_id.in_(list(by_id)))
        .order_by(InferencePage.file_id, InferencePage.page)
    ):
        found[page.file_id].extend(page.predictions)
    for file_id, row in by_id.items():
        summarize(session, row, found[file_id], threshold)


def refresh_model(session: Session, model_id: str, threshold: float | None) -> None:
    """Recompute every file of a model, in batches (after its threshold changed)."""
    last = ""
    while True:
        rows = session.scalars(
            select(InferenceFile)
            .where(InferenceFile.model_id == model_id, InferenceFile.id > last)
            .order_by(InferenceFile.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        refresh(session, rows, threshold)
        session.flush()
        last = rows[-1].id
