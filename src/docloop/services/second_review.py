"""Second reviews: a share of each reviewer's approved files, per model, reviewed again by
another reviewer who does not see the first decision.

When a person approves a file, the file is sampled if that reviewer's second reviews in that
model are fewer than the share of their approvals there (so each reviewer's share is exact,
whatever their volume). The sample is assigned to the reviewer with the fewest open second
reviews. The second reviewer sees what the model predicted (the pages before any correction),
never the approved fields, and submits the fields as they read them; that decision is stored on
the second review only, so the approved data (the training file, the change log) never changes.

Blindness is a rule of the services, not of the pages: while a person's second review of a file
is open, every service that would show them the file's first decision leaves the file out of
what it lists (the review queue and its counts, the listings by day, their exports and webhook
retries, the training files: ``hidden_from``) or refuses it with ``UnderBlindReview`` (the
file's views, change log, approval, corrections, training copy, and an export that may hold it:
``refuse_if_blind``). Only its page images and the OCR text under a box stay open: the blind
editor needs them. Submitting the review lifts the rule.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from docloop.db.tables import (
    InferenceFile,
    InferencePage,
    Model,
    PredictionChange,
    SecondReview,
    User,
    utcnow,
)
from docloop.errors import Conflict, Forbidden, InvalidInput, NotFound, UnderBlindReview
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model
from docloop.services.routing import alternatives, read_fields
from docloop.services.users import PERMISSIONS, can, require

BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")
REVIEWER_ROLES = tuple(r for r, p in PERMISSIONS.items() if "review" in p)


@dataclass(frozen=True, slots=True)
class Share:
    """The share of each reviewer's approved files a model sends to a second reviewer."""

    model_id: str
    second_review_share: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondReviewView:
    """A second review as its reviewer sees it: the fields the model predicted and, once
    submitted, the second reviewer's; never the first reviewer's fields or name."""

    id: str
    model_id: str
    model_name: str
    request_file_id: str
    filename: str
    created_at: str
    predicted: list[dict[str, Any]]
    fields: list[dict[str, Any]] | None
    decided_at: str | None


@dataclass(frozen=True, slots=True)
class PageSize:
    page: int
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SecondReviewItem(SecondReviewView):
    """One second review for the blind editor: also each page's size; predicted fields say
    whether each is a doubted ``alternative``."""

    pages: list[PageSize]


@dataclass(frozen=True, slots=True)
class Counts:
    """How many second reviews a person has waiting and has submitted."""

    waiting: int
    submitted: int


def field(page: int, p: dict[str, Any]) -> dict[str, Any]:
    """A field as second reviews keep it: page, label, text and box, nothing that tells what a
    reviewer decided (status, flags)."""
    return {
        "page": page,
        "label": p["label"],
        "text": (p.get("ocr_text") or p.get("text") or "").strip(),
        **{k: float(p[k]) for k in BOX_KEYS},
    }


def share_of(ctx: AppContext, model: Model) -> float:
    """The model's share of approved files sent to a second reviewer."""
    if model.second_review_share is not None:
        return model.second_review_share
    return ctx.settings.second_review_share


def set_share(ctx: AppContext, who: Principal, model_id: str, share: float | None) -> Share:
    """Set the model's share (0 to 1; None: the configured default)."""
    require(who, "models")
    if share is not None and not 0 <= share <= 1:
        raise InvalidInput("the second-review share must be between 0 and 1")
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        model.second_review_share = share
        return Share(model.id, share_of(ctx, model))


def maybe_sample(ctx: AppContext, session: Session, row: InferenceFile, actor: str) -> None:
    """Called as ``actor`` approves ``row``: open a second review if the file falls in the
    share and another reviewer exists."""
    model = session.get(Model, row.model_id)
    if model is None or session.scalar(
        select(SecondReview.id).where(SecondReview.file_id == row.id)
    ):
        return
    approved = session.scalar(
        select(func.count(InferenceFile.id)).where(
            InferenceFile.model_id == row.model_id,
            InferenceFile.moderated.is_(True),
            InferenceFile.moderated_by == actor,
        )
    )
    sampled = session.scalar(
        select(func.count(SecondReview.id)).where(
            SecondReview.model_id == row.model_id, SecondReview.first_reviewer == actor
        )
    )
    if sampled >= math.floor(share_of(ctx, model) * (approved or 0) + 1e-9):
        return
    reviewer = _least_busy(session, model.workspace_id, actor)
    if reviewer is None:
        return
    pages = session.scalars(
        select(InferencePage).where(InferencePage.file_id == row.id).order_by(InferencePage.page)
    ).all()
    threshold = model.review_threshold
    session.add(
        SecondReview(
            id=str(uuid.uuid4()), file_id=row.id, model_id=row.model_id, first_reviewer=actor,
            reviewer=reviewer, shown=_as_predicted(session, row.id, pages),
            first=[field(p.page, f) for p in pages for f in read_fields(p.predictions, threshold)],
        )
    )  # fmt: skip


def _least_busy(session: Session, workspace_id: str, actor: str) -> str | None:
    """The reviewer of the workspace, other than ``actor``, with the fewest open second
    reviews (then by email)."""
    people = session.scalars(
        select(User.email).where(
            User.workspace_id == workspace_id,
            User.role.in_(REVIEWER_ROLES),
            User.disabled_at.is_(None),
            User.email != actor,
        )
    ).all()
    if not people:
        return None
    open_ = dict(
        session.execute(
            select(SecondReview.reviewer, func.count(SecondReview.id))
            .where(SecondReview.reviewer.in_(people), SecondReview.decided_at.is_(None))
            .group_by(SecondReview.reviewer)
        ).all()
    )
    return min(people, key=lambda e: (open_.get(e, 0), e))


def _as_predicted(
    session: Session, file_id: str, pages: list[InferencePage]
) -> list[dict[str, Any]]:
    """The fields the model predicted: each page as the change log's first "before" of it,
    or as it is when nobody changed it."""
    first_seen: dict[int, list[dict[str, Any]]] = {}
    for change in session.scalars(
        select(PredictionChange)
        .where(PredictionChange.file_id == file_id)
        .order_by(PredictionChange.id)
    ):
        before = change.detail.get("before")
        if isinstance(before, list):
            first_seen.setdefault(change.page, before)
    return [
        {**field(p.page, f), "score": f.get("score")}
        for p in pages
        for f in first_seen.get(p.page, p.predictions)
        if f.get("type", "field") == "field"
    ]


def _public(r: SecondReview, filename: str, model_name: str) -> dict[str, Any]:
    """The fields of a SecondReviewView: never the first reviewer's fields or name."""
    return {
        "id": r.id, "model_id": r.model_id, "model_name": model_name,
        "request_file_id": r.file_id, "filename": filename,
        "created_at": r.created_at.isoformat(), "predicted": r.shown, "fields": r.second,
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
    }  # fmt: skip


def queue(ctx: AppContext, who: Principal, decided: bool = False) -> list[SecondReviewView]:
    """The caller's second reviews still open (or, with ``decided``, those they submitted)."""
    require(who, "review")
    with ctx.session() as s:
        rows = s.execute(
            select(SecondReview, InferenceFile.filename, Model.name)
            .join(InferenceFile, InferenceFile.id == SecondReview.file_id)
            .join(Model, Model.id == SecondReview.model_id)
            .where(
                Model.workspace_id == who.workspace_id,
                SecondReview.reviewer == who.actor,
                SecondReview.decided_at.is_not(None)
                if decided
                else SecondReview.decided_at.is_(None),
            )
            .order_by(SecondReview.created_at)
        ).all()
        return [SecondReviewView(**_public(r, name, model_name)) for r, name, model_name in rows]


def counts(ctx: AppContext, who: Principal) -> Counts:
    """How many second reviews the caller has waiting and has submitted (for the pages' nav:
    only people with some see the link)."""
    if not can(who, "review"):
        return Counts(waiting=0, submitted=0)
    with ctx.session() as s:
        found = dict(
            s.execute(
                select(SecondReview.decided_at.is_(None), func.count(SecondReview.id))
                .join(Model, Model.id == SecondReview.model_id)
                .where(Model.workspace_id == who.workspace_id, SecondReview.reviewer == who.actor)
                .group_by(SecondReview.decided_at.is_(None))
            ).all()
        )
    return Counts(waiting=found.get(True, 0), submitted=found.get(False, 0))


def open_for(ctx: AppContext, who: Principal, file_id: str) -> str | None:
    """The caller's open second review of the file, if any: the review editor sends them there
    instead of showing the first decision."""
    with ctx.session() as s:
        return s.scalar(
            hidden_from(who.actor)
            .with_only_columns(SecondReview.id)
            .where(SecondReview.file_id == file_id)
        )


def hidden_from(actor: str) -> Select[tuple[str]]:
    """The ids of the files ``actor`` has an open second review of: the files whose first
    decision no listing, count or export may show them until they submit."""
    return select(SecondReview.file_id).where(
        SecondReview.reviewer == actor, SecondReview.decided_at.is_(None)
    )


def refuse_if_blind(
    session: Session,
    who: Principal,
    files: str | Select[tuple[str]],
    *,
    opened_after: datetime | None = None,
) -> None:
    """UnderBlindReview when the file (an id, or any of a query's file ids) is under the
    caller's open second review, opened after ``opened_after`` when given: what the caller
    asked for would show them its first decision (fields, marks, approval, change log)."""
    asked = (
        SecondReview.file_id == files if isinstance(files, str) else SecondReview.file_id.in_(files)
    )
    query = hidden_from(who.actor).with_only_columns(SecondReview.id, SecondReview.file_id)
    query = query.where(asked)
    if opened_after is not None:
        query = query.where(SecondReview.created_at > opened_after)
    found = session.execute(query.limit(1)).first()
    if found is not None:
        review_id, file_id = found
        raise UnderBlindReview(
            f"file {file_id} is under your blind second review: its first decision stays hidden "
            f"from you until you submit yours; open /second-reviews/{review_id}"
        )


def _assigned(s: Session, who: Principal, review_id: str) -> tuple[SecondReview, Model]:
    """The second review and its model, if it is the caller's to see."""
    row = s.get(SecondReview, review_id)
    model = s.get(Model, row.model_id) if row else None
    if row is None or model is None or model.workspace_id != who.workspace_id:
        raise NotFound(f"no second review {review_id}")
    if row.reviewer != who.actor:
        raise Forbidden("this second review is assigned to another reviewer")
    return row, model


def get(ctx: AppContext, who: Principal, review_id: str) -> SecondReviewItem:
    """One of the caller's second reviews, for the blind editor: what the model predicted
    (each field saying whether it is an ``alternative``, a reading the model doubted, as the
    review editor shows them) and each page's size; never the first decision."""
    require(who, "review")
    with ctx.session() as s:
        row, model = _assigned(s, who, review_id)
        pages = s.execute(
            select(InferencePage.page, InferencePage.width, InferencePage.height)
            .where(InferencePage.file_id == row.file_id)
            .order_by(InferencePage.page)
        ).all()
        filename = s.get(InferenceFile, row.file_id).filename  # type: ignore[union-attr]
        scored = [{**p, "score": p.get("score") or 0.0} for p in row.shown]
        doubted = alternatives(scored, model.review_threshold)
        return SecondReviewItem(
            **{
                **_public(row, filename, model.name),
                "predicted": [
                    {**p, "alternative": a} for p, a in zip(row.shown, doubted, strict=True)
                ],
            },
            pages=[PageSize(n, w, h) for n, w, h in pages],
        )


def submit(ctx: AppContext, who: Principal, review_id: str, body: object) -> SecondReviewView:
    """Record the second reviewer's fields: ``{"fields": [{"page", "label", "ocr_text",
    "xmin", "ymin", "xmax", "ymax"}]}``; only the assignee may, and only once."""
    require(who, "review")
    if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
        raise InvalidInput("body needs 'fields': the list of fields as you read them")
    with ctx.session() as s:
        row, model = _assigned(s, who, review_id)
        if row.decided_at is not None:
            raise Conflict("this second review was submitted already")
        pages = s.scalars(
            select(InferencePage.page).where(InferencePage.file_id == row.file_id)
        ).all()
        row.second = [
            _checked(item, n, list(model.categories), set(pages))
            for n, item in enumerate(body["fields"])
        ]
        row.decided_at = utcnow()
        s.flush()
        filename = s.get(InferenceFile, row.file_id).filename  # type: ignore[union-attr]
        return SecondReviewView(**_public(row, filename, model.name))


def _checked(item: object, n: int, labels: list[str], pages: set[int]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidInput(f"field {n} must be a JSON object")
    if item.get("label") not in labels:
        raise InvalidInput(f"field {n}: label {item.get('label')!r} is not one of {labels}")
    page = item.get("page", 0)
    if not isinstance(page, int) or page not in pages:
        raise InvalidInput(f"field {n}: the file has no page {page!r}")
    box = item.get("bndbox") if isinstance(item.get("bndbox"), dict) else item
    try:
        coords = {k: float(box[k]) for k in BOX_KEYS}
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f"field {n} needs numeric xmin, ymin, xmax, ymax") from None
    if not all(math.isfinite(v) for v in coords.values()) or (
        coords["xmax"] <= coords["xmin"] or coords["ymax"] <= coords["ymin"]
    ):
        raise InvalidInput(f"field {n}: the box is empty or inverted")
    text = item.get("ocr_text", item.get("text", ""))
    if not isinstance(text, str):
        raise InvalidInput(f"field {n}: the text must be a string")
    return field(page, {"label": item["label"], "ocr_text": text, **coords})
