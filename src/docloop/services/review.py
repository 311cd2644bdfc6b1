"""What reviewers see of a file beside the queue (``review_queue.py``): page images and their
thumbnails, the OCR text under a box (to prefill a field a reviewer draws), the change log,
the loop's figures and assignment."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from docloop.db.tables import InferenceFile, PredictionChange, StepOutput
from docloop.domain import Box
from docloop.errors import InvalidInput, NotFound
from docloop.ml.io import decode
from docloop.ml.tokens import join_text, split_words
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model
from docloop.services.ocr import read_blob
from docloop.services.predictions import DONE, _load_file
from docloop.services.users import require, reviewer_email

MIN_SIDE, MAX_SIDE = 16, 2048


def page_image(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    file_id: str,
    page: int,
    max_side: int | None = None,
) -> bytes:
    """The page as a JPEG, rendered the way the model saw it (PDF pages included); with
    ``max_side``, a small copy for thumbnails, made once and kept."""
    if max_side is not None and not MIN_SIDE <= max_side <= MAX_SIDE:
        raise InvalidInput(f"max_side must be between {MIN_SIDE} and {MAX_SIDE}")
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id, decision=False)
        blob, name = row.blob_hash, row.filename
    if max_side is None:
        return stored_page_image(ctx, blob, name, page)
    return _thumbnail(ctx, blob, name, page, max_side)


def _thumbnail(ctx: AppContext, blob: str, name: str, page: int, max_side: int) -> bytes:
    """A page scaled to fit ``max_side``, cached in the blob store under the digest of what it
    was made from (the same table pipeline steps use to find their stored results)."""
    from PIL import Image

    key = hashlib.sha256(f"thumbnail:{blob}:{page}:{max_side}".encode()).hexdigest()
    with ctx.session() as s:
        cached = s.get(StepOutput, key)
        if cached is not None and ctx.blobs.exists(cached.blob_hash):
            return ctx.blobs.get(cached.blob_hash)
    image = Image.open(io.BytesIO(stored_page_image(ctx, blob, name, page)))
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    data = out.getvalue()
    digest = ctx.blobs.put(data)
    with ctx.session() as s:
        s.merge(StepOutput(key=key, step="thumbnail", blob_hash=digest))
    return data


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
        row = _load_file(s, who, model_id, file_id, decision=False)
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


# Change-log actions that correct a prediction (approving or assigning a file does not).
CORRECTIONS = frozenset(
    {"edit_text", "move", "resize", "relabel", "add", "delete", "mark_wrong", "replace"}
)


@dataclass(frozen=True, slots=True)
class Automation:
    """A model's files through the loop: the figures of ``stats``, for every model at once."""

    processed: int
    approved: int
    approved_without_correction: int
    straight_through: int


@dataclass(frozen=True, slots=True)
class ReviewStats(Automation):
    """One model's figures of the loop: automation and the reviewers' corrections."""

    automation_rate: float | None
    """Files approved without any correction / files processed; None before any file."""
    fields_changed: int
    files_corrected: int


def automation_by_model(session: Session) -> dict[str, Automation]:
    """``stats``'s automation figures of every model in two grouped queries (for /metrics)."""
    from docloop.services.predictions import STRAIGHT_THROUGH

    done = InferenceFile.status == DONE
    totals = session.execute(
        select(
            InferenceFile.model_id,
            func.count(InferenceFile.id),
            func.sum(case((InferenceFile.moderated.is_(True), 1), else_=0)),
            func.sum(case((InferenceFile.moderated_by == STRAIGHT_THROUGH, 1), else_=0)),
        )
        .where(done)
        .group_by(InferenceFile.model_id)
    ).all()
    corrected = dict(
        session.execute(
            select(InferenceFile.model_id, func.count(distinct(PredictionChange.file_id)))
            .join(InferenceFile, InferenceFile.id == PredictionChange.file_id)
            .where(done, InferenceFile.moderated.is_(True))
            .where(PredictionChange.action.in_(CORRECTIONS))
            .group_by(InferenceFile.model_id)
        ).all()
    )
    return {
        model_id: Automation(
            processed=processed,
            approved=approved or 0,
            approved_without_correction=(approved or 0) - corrected.get(model_id, 0),
            straight_through=straight or 0,
        )
        for model_id, processed, approved, straight in totals
    }


def stats(ctx: AppContext, who: Principal, model_id: str) -> ReviewStats:
    """The business figures of the loop: how many files went through without a person's
    correction (automation rate), and how many fields reviewers changed. Aggregates in SQL,
    so the model page costs the same with 100,000 files."""
    from docloop.services.predictions import STRAIGHT_THROUGH

    files = (InferenceFile.model_id == model_id, InferenceFile.status == DONE)
    edited = (
        select(PredictionChange.file_id)
        .join(InferenceFile, InferenceFile.id == PredictionChange.file_id)
        .where(InferenceFile.model_id == model_id, PredictionChange.action.in_(CORRECTIONS))
    )
    with ctx.session() as s:
        load_model(s, who, model_id)
        processed, approved, straight = s.execute(
            select(
                func.count(),
                func.count().filter(InferenceFile.moderated.is_(True)),
                func.count().filter(InferenceFile.moderated_by == STRAIGHT_THROUGH),
            ).where(*files)
        ).one()
        fields_changed = s.scalar(edited.with_only_columns(func.count())) or 0
        corrected = s.scalar(select(func.count()).select_from(edited.distinct().subquery())) or 0
        approved_corrected = s.scalar(
            select(func.count()).where(
                *files, InferenceFile.moderated.is_(True), InferenceFile.id.in_(edited)
            )
        )
    untouched = approved - (approved_corrected or 0)
    return ReviewStats(
        processed=processed,
        approved=approved,
        straight_through=straight,
        approved_without_correction=untouched,
        automation_rate=round(untouched / processed, 4) if processed else None,
        fields_changed=fields_changed,
        files_corrected=corrected,
    )


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
