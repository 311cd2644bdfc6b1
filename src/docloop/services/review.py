"""The moderation queue as reviewers see it: filtered lists with counts, page images, the OCR
text under a box (to prefill a field a reviewer draws), and the change log."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from docloop.db.tables import InferenceFile, InferencePage, PredictionChange
from docloop.domain import Box
from docloop.errors import InvalidInput, NotFound
from docloop.ml.io import decode
from docloop.ml.tokens import join_text, split_words
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model
from docloop.services.ocr import read_blob
from docloop.services.predictions import DONE, _load_file, epoch_day
from docloop.services.routing import read_fields
from docloop.services.users import require, reviewer_email

MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """Which processed files to show. ``below``: any field under this confidence."""

    start: date | None = None
    end: date | None = None
    moderated: bool | None = None
    label: str | None = None
    below: float | None = None


def search(ctx: AppContext, who: Principal, model_id: str, f: ReviewFilter) -> dict[str, Any]:
    """Files matching the filter, the caller's assigned files first, then newest first, with
    the counts of moderated and not moderated files for the same filter (whatever its
    moderated setting), so both are always visible."""
    if f.below is not None and not 0 <= f.below <= 1:
        raise InvalidInput("the confidence threshold must be between 0 and 1")
    if f.start and f.end and f.start > f.end:
        raise InvalidInput("the start date is after the end date")
    with ctx.session() as s:
        threshold = load_model(s, who, model_id).review_threshold
        query = select(InferenceFile).where(
            InferenceFile.model_id == model_id, InferenceFile.status == DONE
        )
        if f.start:
            query = query.where(InferenceFile.day >= epoch_day(_midnight(f.start)))
        if f.end:
            query = query.where(InferenceFile.day <= epoch_day(_midnight(f.end)))
        rows = s.scalars(query.order_by(InferenceFile.created_at.desc())).all()
        pages: dict[str, list[dict[str, Any]]] = {}
        if rows:
            for page in s.scalars(
                select(InferencePage).where(InferencePage.file_id.in_([r.id for r in rows]))
            ):
                pages.setdefault(page.file_id, []).extend(page.predictions)
        # A file is listed and filtered by its fields, not by alternatives nobody confirmed.
        fields = {i: read_fields(preds, threshold) for i, preds in pages.items()}
        matched = [r for r in rows if _fields_match(fields.get(r.id, []), f)]
        counts = {
            "moderated": sum(r.moderated for r in matched),
            "unmoderated": sum(not r.moderated for r in matched),
        }
        shown = [r for r in matched if f.moderated is None or r.moderated == f.moderated]
        shown.sort(key=lambda r: r.assigned_to != who.actor)  # stable: newest first within
        return {
            "counts": counts,
            "total": len(shown),
            "files": [_summary(r, fields.get(r.id, [])) for r in shown[:MAX_LISTED]],
        }


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def _fields_match(preds: list[dict[str, Any]], f: ReviewFilter) -> bool:
    if f.label and not any(p["label"] == f.label for p in preds):
        return False
    return f.below is None or any(float(p.get("score", 1)) < f.below for p in preds)


def _summary(row: InferenceFile, preds: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [float(p.get("score", 1)) for p in preds]
    return {
        "id": row.id,
        "filename": row.filename,
        "created_at": row.created_at.isoformat(),
        "moderated": row.moderated,
        "moderated_by": row.moderated_by,
        "assigned_to": row.assigned_to,
        "flagged": sum(bool(p.get("flags")) for p in preds),
        "fields": len(preds),
        "min_score": round(min(scores), 4) if scores else None,
        "labels": sorted({p["label"] for p in preds}),
    }


def next_file(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> str | None:
    """The newest file still waiting for review, other than this one: where "approve, then go
    to the next file" goes."""
    queue = search(ctx, who, model_id, ReviewFilter(moderated=False))["files"]
    return next((x["id"] for x in queue if x["id"] != file_id), None)


def page_image(ctx: AppContext, who: Principal, model_id: str, file_id: str, page: int) -> bytes:
    """The page as a JPEG, rendered the way the model saw it (PDF pages included)."""
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        blob, name = row.blob_hash, row.filename
    return stored_page_image(ctx, blob, name, page)


def stored_page_image(ctx: AppContext, blob: str, name: str, page: int) -> bytes:
    """One page of a stored file as a JPEG: what the editors show, for predictions and
    training files alike."""
    from PIL import Image

    _, pages = decode(ctx.blobs.get(blob), name, max_pages=ctx.settings.max_pages)
    if not 0 <= page < len(pages):
        raise NotFound(f"the file has no page {page}")
    out = io.BytesIO()
    Image.fromarray(pages[page].image).save(out, "JPEG", quality=90)
    return out.getvalue()


def text_under(
    ctx: AppContext, who: Principal, model_id: str, file_id: str, page: int, box: Box
) -> str:
    """The OCR words whose centre lies in ``box``, in reading order: a drawn field's text."""
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        blob, name = row.blob_hash, row.filename
    return stored_text_under(ctx, blob, name, page, box)


def stored_text_under(ctx: AppContext, blob: str, name: str, page: int, box: Box) -> str:
    lines = read_blob(ctx, blob, name)
    if not 0 <= page < len(lines):
        raise NotFound(f"the file has no page {page}")
    inside = [w for w in split_words(lines[page]) if box.contains_point(*w.box.center)]
    return join_text(inside)


def changes(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> list[dict[str, Any]]:
    """Every change to the file's predictions, oldest first."""
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        return [
            {"action": c.action, "page": c.page, "by": c.by, "at": c.at.isoformat(),
             "change": c.detail.get("change")}
            for c in s.scalars(
                select(PredictionChange)
                .where(PredictionChange.file_id == row.id)
                .order_by(PredictionChange.id)
            )
        ]  # fmt: skip


def stats(ctx: AppContext, who: Principal, model_id: str) -> dict[str, Any]:
    """The business figures of the loop: how many files went through without a person's
    correction (automation rate), and how many fields reviewers changed."""
    from docloop.services.predictions import STRAIGHT_THROUGH

    edits = {"edit_text", "move", "resize", "relabel", "add", "delete", "mark_wrong", "replace"}
    with ctx.session() as s:
        load_model(s, who, model_id)
        rows = s.execute(
            select(InferenceFile.id, InferenceFile.moderated, InferenceFile.moderated_by).where(
                InferenceFile.model_id == model_id, InferenceFile.status == DONE
            )
        ).all()
        changed = s.execute(
            select(PredictionChange.file_id, PredictionChange.action)
            .join(InferenceFile, InferenceFile.id == PredictionChange.file_id)
            .where(InferenceFile.model_id == model_id)
        ).all()
    corrected = {f for f, action in changed if action in edits}
    approved = [r for r in rows if r.moderated]
    untouched = [r for r in approved if r.id not in corrected]
    return {
        "processed": len(rows),
        "approved": len(approved),
        "straight_through": sum(r.moderated_by == STRAIGHT_THROUGH for r in rows),
        "approved_without_correction": len(untouched),
        "automation_rate": round(len(untouched) / len(rows), 4) if rows else None,
        "fields_changed": sum(1 for _, action in changed if action in edits),
        "files_corrected": len(corrected),
    }


def assign(
    ctx: AppContext, who: Principal, model_id: str, file_id: str, reviewer: str | None
) -> dict[str, Any]:
    """Put a file in a reviewer's queue (their queue lists it first); None unassigns.

    Only a person of the caller's workspace whose role may review can be assigned: a typo or a
    stranger would park the file in a queue nobody opens."""
    require(who, "review")
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        row.assigned_to = reviewer_email(s, who, reviewer) if reviewer else None
        return {"request_file_id": row.id, "assigned_to": row.assigned_to}
