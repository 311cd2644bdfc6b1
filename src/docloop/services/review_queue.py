"""The review queue as SQL: filters, counts, sort orders, keyset pages and a file's position.

Every query reads ``inference_files`` and its summary columns (``services/file_summary.py``)
through indexes that start with (model_id, status), so opening the queue, counting it, and
finding "file 3 of 9" and the next file cost the same with 100 files or 100,000. Pages are
keyset pages: a cursor holds the sort value and id of the row it continues from, so page 1,000
costs what page 1 costs and a file approved meanwhile does not shift the next page.

The order is total: the sort column, then the file id in the same direction. A missing value
(a file with no field has no lowest score; an unassigned file no assignee) sorts after every
value when ascending and before every value when descending, on both databases.

Each person's queue leaves out the files under their open second review: its counts, totals,
positions and next files are of the files they may see (``second_review.hidden_from``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from docloop.db.tables import InferenceFile
from docloop.errors import InvalidInput
from docloop.services import second_review
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.file_summary import label_term, split_labels
from docloop.services.models import load_model
from docloop.services.predictions import DONE, _load_file, epoch_day
from docloop.services.users import require

SORTS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": InferenceFile.created_at,
    "filename": InferenceFile.filename,
    "min_score": InferenceFile.min_score,
    "fields": InferenceFile.field_count,
    "flagged": InferenceFile.flagged_count,
    "moderated": InferenceFile.moderated,
    "assigned_to": InferenceFile.assigned_to,
    # Most useful to review next (active learning, ``ml/usefulness.py``) with order=desc.
    "usefulness": InferenceFile.usefulness,
}
NULLABLE = frozenset({"min_score", "assigned_to", "usefulness"})
ORDERS = ("asc", "desc")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
THUMBNAIL_SIDE = 240


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """Which processed files to show. ``below``: any field under this confidence."""

    start: date | None = None
    end: date | None = None
    moderated: bool | None = None
    label: str | None = None
    below: float | None = None


@dataclass(frozen=True, slots=True)
class QueueOrder:
    """How the queue is sorted: a column of ``SORTS``, ascending or descending."""

    sort: str = "created_at"
    order: str = "desc"

    @property
    def descending(self) -> bool:
        return self.order == "desc"

    def reversed(self) -> QueueOrder:
        return QueueOrder(self.sort, "asc" if self.descending else "desc")


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Files approved and waiting among those the filter selects, whatever its moderated."""

    moderated: int
    unmoderated: int


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A file as the queue lists it, from its summary columns."""

    id: str
    filename: str
    media_type: str
    """What the file is, for the queue's placeholder when there is no preview."""
    created_at: str
    moderated: bool
    moderated_by: str | None
    assigned_to: str | None
    flagged: int | None
    """Fields that need a person."""
    fields: int | None
    min_score: float | None
    usefulness: float | None
    """How useful the file is to review next (``ml/usefulness``); None before it was stored."""
    labels: list[str]
    thumbnail_url: str


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One keyset page of the queue, with the cursors to the pages before and after it."""

    counts: QueueCounts
    total: int
    files: list[QueueItem]
    next_cursor: str | None
    prev_cursor: str | None


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """A file's 1-based place in the queue (None when the filter leaves it out), the total and
    the files just before and after that place."""

    position: int | None
    total: int
    previous: str | None
    next: str | None


def check(f: ReviewFilter, order: QueueOrder, limit: int = DEFAULT_LIMIT) -> None:
    """InvalidInput naming the first parameter that cannot be used."""
    if f.below is not None and not 0 <= f.below <= 1:
        raise InvalidInput("below: the confidence threshold must be between 0 and 1")
    if f.start and f.end and f.start > f.end:
        raise InvalidInput("start: the start date is after the end date")
    if order.sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    if order.order not in ORDERS:
        raise InvalidInput("order must be asc or desc")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")


def search(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    f: ReviewFilter,
    order: QueueOrder = QueueOrder(),
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> QueuePage:
    """One page of the files matching the filter, in ``order``, with cursors to the pages
    before and after it, the total, and the counts of moderated and not moderated files for
    the same filter whatever its moderated setting (so both are always visible)."""
    require(who, "review")
    check(f, order, limit)
    key = _decode(cursor, order) if cursor else None
    with ctx.session() as s:
        load_model(s, who, model_id)
        counts = _counts(s, who, model_id, f)
        total = (
            (counts.moderated if f.moderated else counts.unmoderated)
            if f.moderated is not None
            else counts.moderated + counts.unmoderated
        )
        backward = key is not None and key[2] == "p"
        walk = order.reversed() if backward else order
        query = _filtered(who, model_id, f)
        if key is not None:
            query = query.where(_after(walk, key[0], key[1]))
        rows = list(s.scalars(_ordered(query, walk).limit(limit + 1)))
        more, rows = len(rows) > limit, rows[:limit]
        if backward:
            rows.reverse()
        before = more if backward else key is not None
        after = key is not None if backward else more
        return QueuePage(
            counts=counts,
            total=total,
            files=[_summary(model_id, r) for r in rows],
            next_cursor=_encode(order, rows[-1], "n") if rows and after else None,
            prev_cursor=_encode(order, rows[0], "p") if rows and before else None,
        )


def position(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    file_id: str,
    f: ReviewFilter,
    order: QueueOrder = QueueOrder(),
) -> QueuePosition:
    """Where a file stands in the filtered, sorted queue: its 1-based ``position`` (None when
    the filter leaves it out, e.g. once approved in the waiting queue), the ``total``, and the
    files just before and after its place in that order."""
    require(who, "review")
    check(f, order)
    with ctx.session() as s:
        return _position(s, who, model_id, _load_file(s, who, model_id, file_id), f, order)


def next_file(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    current: str,
    f: ReviewFilter,
    order: QueueOrder = QueueOrder(),
) -> str | None:
    """The file after ``current`` in the filtered, sorted queue, or else its first file other
    than ``current`` (where "approve, then go to the next file" goes); None when empty."""
    require(who, "review")
    check(f, order)
    with ctx.session() as s:
        load_model(s, who, model_id)
        row = s.get(InferenceFile, current) if current else None
        ids = _filtered(who, model_id, f).with_only_columns(InferenceFile.id)
        if row is not None and row.model_id == model_id:
            following = _first(s, ids, order, row)
            if following is not None:
                return following
        return s.scalar(_ordered(ids.where(InferenceFile.id != current), order).limit(1))


def _position(
    session: Session,
    who: Principal,
    model_id: str,
    row: InferenceFile,
    f: ReviewFilter,
    order: QueueOrder,
) -> QueuePosition:
    value = getattr(row, SORTS[order.sort].key)
    base = _filtered(who, model_id, f)
    total = session.scalar(_count(base)) or 0
    listed = session.scalar(_count(base.where(InferenceFile.id == row.id)))
    ahead = session.scalar(_count(base.where(_after(order.reversed(), value, row.id)))) or 0
    ids = base.with_only_columns(InferenceFile.id)
    return QueuePosition(
        position=ahead + 1 if listed else None,
        total=total,
        previous=_first(session, ids, order.reversed(), row),
        next=_first(session, ids, order, row),
    )


def _first(session: Session, ids: Select[Any], order: QueueOrder, row: InferenceFile) -> str | None:
    """The id of the first file after ``row``'s place in ``order``."""
    value = getattr(row, SORTS[order.sort].key)
    return session.scalar(_ordered(ids.where(_after(order, value, row.id)), order).limit(1))


def _filtered(
    who: Principal, model_id: str, f: ReviewFilter, *, moderated: bool = True
) -> Select[Any]:
    """Processed files of the model matching ``f`` (its moderated setting unless told not),
    but those under the caller's open second review: the queue never shows them the first
    decision, so the file is left out of their lists, counts, positions and next files."""
    query = select(InferenceFile).where(
        InferenceFile.model_id == model_id,
        InferenceFile.status == DONE,
        InferenceFile.id.not_in(second_review.hidden_from(who.actor)),
    )
    if f.start:
        query = query.where(InferenceFile.day >= epoch_day(_midnight(f.start)))
    if f.end:
        query = query.where(InferenceFile.day <= epoch_day(_midnight(f.end)))
    if f.label:
        query = query.where(InferenceFile.labels.contains(label_term(f.label), autoescape=True))
    if f.below is not None:
        query = query.where(InferenceFile.min_score < f.below)
    if moderated and f.moderated is not None:
        query = query.where(InferenceFile.moderated.is_(f.moderated))
    return query


def _counts(session: Session, who: Principal, model_id: str, f: ReviewFilter) -> QueueCounts:
    query = (
        _filtered(who, model_id, f, moderated=False)
        .with_only_columns(InferenceFile.moderated, func.count())
        .group_by(InferenceFile.moderated)
    )
    found = {bool(m): n for m, n in session.execute(query)}
    return QueueCounts(moderated=found.get(True, 0), unmoderated=found.get(False, 0))


def _count(query: Select[Any]) -> Select[Any]:
    return query.with_only_columns(func.count()).order_by(None)


def _ordered(query: Select[Any], order: QueueOrder) -> Select[Any]:
    column = SORTS[order.sort]
    if order.descending:
        return query.order_by(column.desc().nulls_first(), InferenceFile.id.desc())
    return query.order_by(column.asc().nulls_last(), InferenceFile.id.asc())


def _after(order: QueueOrder, value: Any, file_id: str) -> ColumnElement[bool]:
    """Rows that come after (value, file_id) in ``order``; a missing value is the largest."""
    column = SORTS[order.sort]
    later_id = InferenceFile.id < file_id if order.descending else InferenceFile.id > file_id
    if value is None:
        if order.descending:
            return or_(column.is_not(None), and_(column.is_(None), later_id))
        return and_(column.is_(None), later_id)
    key, at = tuple_(column, InferenceFile.id), tuple_(value, file_id)
    if order.descending:
        return key < at
    if order.sort in NULLABLE:
        return or_(key > at, column.is_(None))
    return key > at


def _summary(model_id: str, row: InferenceFile) -> QueueItem:
    return QueueItem(
        id=row.id,
        filename=row.filename,
        media_type=row.media_type,
        created_at=row.created_at.isoformat(),
        moderated=row.moderated,
        moderated_by=row.moderated_by,
        assigned_to=row.assigned_to,
        flagged=row.flagged_count,
        fields=row.field_count,
        min_score=row.min_score,
        usefulness=row.usefulness,
        labels=split_labels(row.labels),
        thumbnail_url=f"/api/v1/models/{model_id}/predictions/{row.id}/pages/0/image"
        f"?max_side={THUMBNAIL_SIDE}",
    )


def _encode(order: QueueOrder, row: InferenceFile, direction: str) -> str:
    value = getattr(row, SORTS[order.sort].key)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"s": order.sort, "o": order.order, "v": value, "i": row.id, "d": direction})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, order: QueueOrder) -> tuple[Any, str, str]:
    """(sort value, file id, "n" or "p") from a cursor of this sort order."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, file_id, direction = raw["v"], str(raw["i"]), raw["d"]
        same = (raw["s"], raw["o"]) == (order.sort, order.order)
        if order.sort == "created_at" and value is not None:
            value = datetime.fromisoformat(value)
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidInput("cursor is not a cursor of this queue") from None
    if not same or direction not in ("n", "p"):
        raise InvalidInput("cursor belongs to another sort order: start again without it")
    return value, file_id, direction


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)
