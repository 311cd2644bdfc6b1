"""Predictions: run a hosted model on a file, store every result, and let people moderate it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from docloop.db.tables import InferenceFile, InferencePage, Model, ModelVersion, utcnow
from docloop.domain import FieldPrediction, JobKind
from docloop.errors import Conflict, InvalidInput, NotFound
from docloop.ml.bundle import UnknownFormat
from docloop.ml.infer import FieldPredictor
from docloop.ml.io import Page, decode
from docloop.services import corrections, file_summary, jobs, routing, second_review, webhooks
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.datasets import IncomingFile, check_size, download_all, validate_objects
from docloop.services.models import load_model
from docloop.services.ocr import read_pages
from docloop.services.users import require

PENDING, DONE, FAILED = "pending", "done", "failed"
# ``moderated_by`` of a file approved by the routing rules rather than by a person.
STRAIGHT_THROUGH = "straight-through"


def utc(when: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite hands back naive ones (stored in UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def epoch_day(when: datetime) -> int:
    """Days since 1970-01-01 UTC, the unit of the v2 listing's day range."""
    return int(utc(when).timestamp() // 86400)


def _production(session: Session, model: Model) -> ModelVersion:
    version = (
        session.get(ModelVersion, model.production_version_id)
        if model.production_version_id
        else None
    )
    if version is None:
        raise Conflict(f"model {model.id} is not trained yet: train it and wait for state 5")
    return version


def _predictor(ctx: AppContext, version: ModelVersion) -> FieldPredictor:
    try:
        return ctx.predictors.get(
            version.artifact_hash, lambda: ctx.blobs.get(version.artifact_hash)
        )
    except UnknownFormat as exc:
        raise Conflict(
            f"model version {version.number} was trained by an earlier docloop ({exc}); "
            "train the model again to predict with it"
        ) from None


def _hosted_version(
    ctx: AppContext, who: Principal, model_id: str, files: list[IncomingFile]
) -> ModelVersion:
    if not files:
        raise InvalidInput("no file was sent")
    with ctx.session() as s:
        return _production(s, load_model(s, who, model_id))


@dataclass(frozen=True, slots=True)
class PageSize:
    """A page's size in pixels."""

    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PageView:
    """The prediction on one page of a file, as every API, the webhooks and the CLI show it.
    ``message`` is the v2 page's status line ("Success" for every stored page); each of
    ``prediction`` is a stored field (box, label, text, score, review status) with whether it is
    an ``alternative`` reading."""

    message: str
    input: str
    page: int
    request_file_id: str
    id: str
    size: PageSize
    prediction: list[dict[str, Any]]
    moderated: bool
    created_at: str
    request_metadata: str | None


@dataclass(frozen=True, slots=True)
class FileView:
    """A stored prediction request file: its status, moderation state and pages."""

    request_file_id: str
    filename: str
    status: str
    error: str | None
    moderated: bool
    created_at: str
    day: int
    request_metadata: str | None
    result: list[PageView]


@dataclass(frozen=True, slots=True)
class FileForReview(FileView):
    """A file as the review editor sees it: also who approved it and to whom it is assigned."""

    moderated_by: str | None
    assigned_to: str | None


@dataclass(frozen=True, slots=True)
class ApprovedFile(FileView):
    """A file just approved or un-approved, and whether it is now training data."""

    added_to_training: bool


@dataclass(frozen=True, slots=True)
class FilesByModeration:
    """The files of a span of days, approved ones apart from the others, oldest first."""

    moderated: list[FileView]
    unmoderated: list[FileView]


@dataclass(frozen=True, slots=True)
class _Reading:
    """A file's fields, page by page, and how useful it would be to review: its most useful
    page's score (``ml/usefulness.py``), which the review queue sorts on."""

    fields: list[list[FieldPrediction]]
    usefulness: float | None


def _read_fields(
    ctx: AppContext, version: ModelVersion, digest: str, pages: list[Page]
) -> _Reading:
    """OCR (cached by content) and the model, page by page; counted as one prediction."""
    lines = read_pages(ctx, digest, pages)
    predictor = _predictor(ctx, version)
    fields, scores = [], []
    for ln, p in zip(lines, pages, strict=True):
        with ctx.metrics.inference_seconds.time():
            found, useful = predictor.assess(ln, p.width, p.height, p.image)
        fields.append(found)
        scores.append(useful.score)
    ctx.metrics.prediction_served(version.model_id, len(pages), sum(map(len, fields)))
    return _Reading(fields, max(scores, default=None))


def predict_files(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    files: list[IncomingFile],
    metadata: str | None = None,
) -> list[PageView]:
    """Predict synchronously; returns one result per page of every file, all stored."""
    require(who, "predict")
    version = _hosted_version(ctx, who, model_id, files)
    results: list[PageView] = []
    for f in files:
        check_size(ctx, f.filename, f.data)
        media_type, pages = decode(f.data, f.filename, max_pages=ctx.settings.max_pages)
        digest = ctx.blobs.put(f.data)
        started = time.perf_counter()
        reading = _read_fields(ctx, version, digest, pages)
        with ctx.session() as s:
            row = _new_file(s, model_id, f.filename, digest, media_type, metadata, status=DONE)
            row.model_version_id = version.id
            row.predict_seconds = round(time.perf_counter() - started, 4)
            _store_pages(ctx, s, row, pages, reading)
            s.flush()
            results.extend(file_results(s, row))
    return results


def predict_urls(
    ctx: AppContext, who: Principal, model_id: str, urls: object, metadata: str | None = None
) -> list[PageView]:
    with ctx.session() as s:
        _production(s, load_model(s, who, model_id))
    return predict_files(ctx, who, model_id, download_all(ctx, urls), metadata)


def submit_async(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    files: list[IncomingFile],
    metadata: str | None = None,
) -> list[dict[str, Any]]:
    """Store the files and queue their prediction; returns the request_file_ids to poll."""
    require(who, "predict")
    _hosted_version(ctx, who, model_id, files)
    checked = []
    for f in files:
        check_size(ctx, f.filename, f.data)
        media_type, pages = decode(f.data, f.filename, max_pages=ctx.settings.max_pages)
        checked.append((f, media_type, pages[0]))
    out = []
    with ctx.session() as s:
        for f, media_type, first in checked:
            digest = ctx.blobs.put(f.data)
            row = _new_file(s, model_id, f.filename, digest, media_type, metadata, status=PENDING)
            jobs.enqueue(
                s, JobKind.PREDICT, {"request_file_id": row.id}, model_id=model_id,
                max_attempts=ctx.settings.job_max_attempts,
            )  # fmt: skip
            out.append({"request_file_id": row.id, "filename": row.filename, "status": PENDING,
                        "size": {"width": first.width, "height": first.height},
                        "request_metadata": metadata})  # fmt: skip
    return out


def submit_async_urls(
    ctx: AppContext, who: Principal, model_id: str, urls: object, metadata: str | None = None
) -> list[dict[str, Any]]:
    """Download the URLs (once the model is known to be hosted) and queue their prediction."""
    with ctx.session() as s:
        _production(s, load_model(s, who, model_id))
    return submit_async(ctx, who, model_id, download_all(ctx, urls), metadata)


def run_prediction_job(ctx: AppContext, payload: dict[str, Any]) -> None:
    file_id = payload["request_file_id"]
    with ctx.session() as s:
        row = s.get(InferenceFile, file_id)
        if row is None or row.status != PENDING:
            return  # deleted meanwhile, or done by an earlier attempt
        model = s.get(Model, row.model_id)
        if model is None:
            return
        version = _production(s, model)
        filename, digest = row.filename, row.blob_hash
    _, pages = decode(ctx.blobs.get(digest), filename, max_pages=ctx.settings.max_pages)
    started = time.perf_counter()
    reading = _read_fields(ctx, version, digest, pages)
    with ctx.session() as s:
        row = s.get(InferenceFile, file_id)
        if row is None or row.status != PENDING:
            return
        s.execute(delete(InferencePage).where(InferencePage.file_id == file_id))
        _store_pages(ctx, s, row, pages, reading)
        row.status = DONE
        row.model_version_id = version.id
        row.predict_seconds = round(time.perf_counter() - started, 4)


def _store_pages(
    ctx: AppContext,
    session: Session,
    row: InferenceFile,
    pages: list[Page],
    reading: _Reading,
) -> None:
    """Store a file's predicted pages and usefulness, flag what needs a person, and approve
    the file at once when nothing does (straight through; it is not added to training data:
    no one checked it)."""
    rows = [
        _page_row(row.id, p.index, p.width, p.height, f)
        for p, f in zip(pages, reading.fields, strict=True)
    ]
    row.usefulness = reading.usefulness
    model = session.get(Model, row.model_id)
    if model is not None and routing.apply(model, [r.predictions for r in rows]):
        row.moderated = True
        row.moderated_at = utcnow()
        row.moderated_by = STRAIGHT_THROUGH
        webhooks.enqueue_delivery(ctx, session, model, row.id)
    session.add_all(rows)
    file_summary.summarize(
        session, row, [p for r in rows for p in r.predictions],
        model.review_threshold if model is not None else None,
    )  # fmt: skip


def mark_failed(session: Session, file_id: str, reason: str) -> None:
    row = session.get(InferenceFile, file_id)
    if row is not None and row.status == PENDING:
        row.status = FAILED
        row.error = reason


def _new_file(
    session: Session,
    model_id: str,
    filename: str,
    digest: str,
    media_type: str,
    metadata: str | None,
    *,
    status: str,
) -> InferenceFile:
    now = utcnow()
    row = InferenceFile(
        id=str(uuid.uuid4()),
        model_id=model_id,
        filename=PurePath(filename).name or "file",
        blob_hash=digest,
        media_type=media_type,
        status=status,
        request_metadata=metadata,
        moderated=False,
        day=epoch_day(now),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _page_row(file_id: str, index: int, width: int, height: int, fields: list) -> InferencePage:  # type: ignore[type-arg]
    return InferencePage(
        id=str(uuid.uuid4()),
        file_id=file_id,
        page=index,
        width=width,
        height=height,
        predictions=[
            {
                "id": str(uuid.uuid4()),
                "label": f.label,
                "type": "field",
                **f.box.as_dict(),
                "score": round(f.score, 4),
                "ocr_text": f.text,
                "page_no": index,
                "status": routing.UNTOUCHED,
            }
            for f in fields
        ],
    )


def file_results(session: Session, row: InferenceFile) -> list[PageView]:
    """Each page's view. Every prediction says whether it is an ``alternative``
    (``routing.alternatives``, over the whole file: a label's best may be on another page), so
    a reviewer can set aside the readings the model doubted without the client redoing the
    server's threshold logic."""
    pages = session.scalars(
        select(InferencePage).where(InferencePage.file_id == row.id).order_by(InferencePage.page)
    ).all()
    model = session.get(Model, row.model_id)
    marks = iter(
        routing.alternatives(
            [p for page in pages for p in page.predictions],
            model.review_threshold if model is not None else None,
        )
    )
    return [
        _page_view(row, page, [{**p, "alternative": next(marks)} for p in page.predictions])
        for page in pages
    ]


def _page_view(
    row: InferenceFile, page: InferencePage, predictions: list[dict[str, Any]]
) -> PageView:
    return PageView(
        message="Success",
        input=row.filename,
        page=page.page,
        request_file_id=row.id,
        id=page.id,
        size=PageSize(page.width, page.height),
        prediction=predictions,
        moderated=row.moderated,
        created_at=utc(row.created_at).isoformat(),
        request_metadata=row.request_metadata,
    )


def _load_file(
    session: Session, who: Principal, model_id: str, file_id: str, *, decision: bool = True
) -> InferenceFile:
    """The model's file, for a use that shows or changes its ``decision`` (fields, marks,
    approval): refused while the caller's second review of it is open. Only its page images
    and OCR text (``decision=False``) stay open to the blind editor."""
    load_model(session, who, model_id)
    row = session.get(InferenceFile, file_id) if file_id else None
    if row is None or row.model_id != model_id:
        raise NotFound(f"no inference request file {file_id!r} for model {model_id}")
    if decision:
        second_review.refuse_if_blind(session, who, row.id)
    return row


def get_file(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> FileView:
    """A stored result: its status, moderation state and per-page predictions."""
    with ctx.session() as s:
        return _file_view(s, _load_file(s, who, model_id, file_id))


def get_file_for_review(
    ctx: AppContext, who: Principal, model_id: str, file_id: str
) -> FileForReview:
    """A stored result with who approved it and to whom it is assigned (for the review
    editor, not for v2 clients)."""
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        return FileForReview(
            **_file_fields(s, row), moderated_by=row.moderated_by, assigned_to=row.assigned_to
        )


def _file_view(session: Session, row: InferenceFile) -> FileView:
    return FileView(**_file_fields(session, row))


def _file_fields(session: Session, row: InferenceFile) -> dict[str, Any]:
    """The fields every view of a file has, for the views that add their own."""
    return {
        "request_file_id": row.id,
        "filename": row.filename,
        "status": row.status,
        "error": row.error,
        "moderated": row.moderated,
        "created_at": utc(row.created_at).isoformat(),
        "day": row.day,
        "request_metadata": row.request_metadata,
        "result": file_results(session, row),
    }


def list_by_days(
    ctx: AppContext, who: Principal, model_id: str, start_day: int, end_day: int
) -> FilesByModeration:
    """The files predicted from ``start_day`` to ``end_day``, but those under the caller's
    open second review (``second_review.hidden_from``)."""
    if start_day > end_day:
        raise InvalidInput(f"start_day_interval {start_day} is after current_batch_day {end_day}")
    with ctx.session() as s:
        load_model(s, who, model_id)
        rows = s.scalars(
            select(InferenceFile)
            .where(
                InferenceFile.model_id == model_id,
                InferenceFile.day >= start_day,
                InferenceFile.day <= end_day,
                InferenceFile.id.not_in(second_review.hidden_from(who.actor)),
            )
            .order_by(InferenceFile.created_at)
        ).all()
        views = [_file_view(s, r) for r in rows]
    return FilesByModeration(
        moderated=[v for v in views if v.moderated],
        unmoderated=[v for v in views if not v.moderated],
    )


def set_moderated(
    ctx: AppContext, who: Principal, model_id: str, file_id: str, value: bool
) -> ApprovedFile:
    """Approve (or un-approve) a file: an approved file with at least one field becomes
    training data of the model (``added_to_training`` says whether it did)."""
    require(who, "review")
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        if row.status != DONE:
            raise Conflict(
                f"file {file_id} has no finished prediction to moderate (status {row.status})"
            )
        if row.moderated != value:
            row.moderated = value
            row.moderated_at = utcnow() if value else None
            row.moderated_by = who.actor if value else None
            corrections.record_change(
                s, row.id, 0, "approve" if value else "unapprove", {}, who.actor
            )
            corrections.sync_training_file(s, row)
            if value:
                second_review.maybe_sample(ctx, s, row, who.actor)
            model = s.get(Model, row.model_id)
            if value and model is not None:
                webhooks.enqueue_delivery(ctx, s, model, row.id)
        s.flush()
        return ApprovedFile(
            **_file_fields(s, row), added_to_training=corrections.in_training(s, row.id)
        )


def update_page(ctx: AppContext, who: Principal, model_id: str, body: object) -> PageView:
    """Replace one page's predictions with corrected ones (validated like training boxes).

    The change is logged with the page before and after; ``change`` in the body (an object
    with an ``action`` such as "edit_text" or "move") says what the reviewer did."""
    require(who, "review")
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    page_id = body.get("id") or body.get("page_id")
    file_id = body.get("request_file_id")
    items = body.get("predicted_boxes", body.get("prediction"))
    if not isinstance(items, list):
        raise InvalidInput("body needs 'predicted_boxes' (or 'prediction'): a list of boxes")
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        labels = list(model.categories)
        page = s.get(InferencePage, page_id) if isinstance(page_id, str) else None
        if page is None and isinstance(file_id, str):
            row = _load_file(s, who, model_id, file_id)
            page = s.scalar(
                select(InferencePage).where(
                    InferencePage.file_id == row.id,
                    InferencePage.page == int(body.get("page", 0) or 0),
                )
            )
        if page is None:
            raise NotFound("no such page: give its 'id', or 'request_file_id' and 'page'")
        row = _load_file(s, who, model_id, page.file_id)
        before = list(page.predictions)
        change = body.get("change") if isinstance(body.get("change"), dict) else {}
        action = str(change.get("action") or "replace")[:30]
        corrected = [_corrected(item, labels, page, n) for n, item in enumerate(items)]
        page.predictions = _keep_wrong(before, corrected, action, change.get("id"))
        page.updated_at = utcnow()
        corrections.record_change(
            s, row.id, page.page, action,
            {"change": change, "before": before, "after": page.predictions}, who.actor,
        )  # fmt: skip
        s.flush()
        file_summary.refresh(s, [row], model.review_threshold)
        if row.moderated:
            corrections.sync_training_file(s, row)
        s.flush()
        return next(v for v in file_results(s, row) if v.id == page.id)


def _corrected(item: object, labels: list[str], page: InferencePage, n: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidInput(f"box {n} must be a JSON object")
    box = item.get("bndbox") or {k: item.get(k) for k in ("xmin", "ymin", "xmax", "ymax")}
    sizes = [(page.width, page.height)] * (page.page + 1)
    obj = {
        "name": item.get("label"),
        "bndbox": box,
        "ocr_text": item.get("ocr_text", ""),
        "page": page.page,
    }
    [valid] = validate_objects([obj], labels, sizes, f"box {n}")
    status = str(item.get("status", "corrected"))
    return {
        "id": str(item.get("id") or uuid.uuid4()),
        "label": valid["label"],
        "type": "field",
        **{k: round(v) for k, v in valid["box"].items()},
        # A drawn box's text is the OCR under it: a suggestion with no confidence of its own.
        "score": 0.0 if status == routing.SUGGESTED else _score(item.get("score", 1.0), n),
        "ocr_text": valid["text"] or "",
        "page_no": page.page,
        "status": status,
    }


def _score(value: object, n: int) -> float:
    """The sent confidence (1 when none is sent), or InvalidInput naming the box."""
    try:
        score = 1.0 if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        score = -1.0
    if not 0 <= score <= 1:
        raise InvalidInput(f"box {n}: score must be a number between 0 and 1")
    return score


# Changes that set a field's mark on purpose; any other change (a move, a text edit, a relabel)
# leaves a field marked wrong marked wrong. Undo and redo restore a page as it was.
MARKING = frozenset({"mark_correct", "mark_wrong", "mark_unreviewed"})
RESTORING = frozenset({"undo", "redo"})


def _keep_wrong(
    before: list[dict[str, Any]], after: list[dict[str, Any]], action: str, target: object
) -> list[dict[str, Any]]:
    """``after``, with every field that was marked wrong still wrong unless this change marks
    that very field (or restores the page): a rejected reading never becomes a correction by
    being moved, resized or retyped."""
    wrong = {p["id"] for p in before if p.get("status") == routing.WRONG}
    for p in after:
        marked = (action in MARKING and p["id"] == target) or action in RESTORING
        if p["id"] in wrong and not marked:
            p["status"] = routing.WRONG
    return after


def delete_file(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> None:
    require(who, "review")
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        s.execute(delete(InferencePage).where(InferencePage.file_id == row.id))
        s.delete(row)
