"""Annotating training files in the same editor reviewers use, with pre-annotation.

Typing every field of a first training set is the slow part of starting a model. One click
fills a file with what the current model predicts, or, before any model exists, with the OCR
lines (each labelled with the model's first label), to be accepted or fixed instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from docloop.db.tables import TrainingFile
from docloop.domain import Box
from docloop.errors import NotFound
from docloop.services import second_review
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.corrections import REVIEW_SOURCE
from docloop.services.datasets import validate_objects
from docloop.services.models import load_model, touch
from docloop.services.ocr import read_blob
from docloop.services.predictions import _predictor, _production, utc
from docloop.services.review import stored_page_image, stored_text_under
from docloop.services.users import require


@dataclass(frozen=True, slots=True)
class TrainingFileView:
    """A training file with its annotations, in the Nanonets upload shape."""

    id: str
    filename: str
    source: str
    """Where it came from: upload, review, import, ..."""
    pages: list[dict[str, int]]
    """Each page's width and height."""
    object: list[dict[str, Any]]
    """``{"name", "bndbox", "ocr_text", "page"}`` each; bndbox None when only text is known."""
    transcribed_lines: int
    created_at: str


@dataclass(frozen=True, slots=True)
class Preannotation:
    """Suggested annotations (Nanonets upload shape), from the model or else from OCR."""

    source: str
    object: list[dict[str, Any]]


def list_files(ctx: AppContext, who: Principal, model_id: str) -> list[TrainingFileView]:
    """The model's training files, but the copies of files under the caller's open second
    review: their annotations are the first reviewer's approved fields."""
    with ctx.session() as s:
        load_model(s, who, model_id)
        query = select(TrainingFile).where(TrainingFile.model_id == model_id)
        hidden = [REVIEW_SOURCE + f for f in s.scalars(second_review.hidden_from(who.actor))]
        if hidden:
            query = query.where(
                or_(TrainingFile.source.is_(None), TrainingFile.source.not_in(hidden))
            )
        rows = s.scalars(query.order_by(TrainingFile.created_at, TrainingFile.id)).all()
        return [_view(r) for r in rows]


def get_file(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> TrainingFileView:
    with ctx.session() as s:
        return _view(load_training_file(s, who, model_id, file_id))


def set_annotations(
    ctx: AppContext, who: Principal, model_id: str, file_id: str, objects: object
) -> TrainingFileView:
    """Replace the file's annotations (validated like an upload's); the next training uses them."""
    require(who, "annotate")
    with ctx.session() as s:
        row = load_training_file(s, who, model_id, file_id)
        model = load_model(s, who, model_id)
        sizes = [(p["width"], p["height"]) for p in row.pages]
        row.annotations = validate_objects(objects, list(model.categories), sizes, row.filename)
        touch(model)
        return _view(row)


def preannotate(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> Preannotation:
    """Suggested annotations for the file (not saved): the served model's predictions, or the
    OCR lines when the model has no trained version yet."""
    require(who, "annotate")
    with ctx.session() as s:
        row = load_training_file(s, who, model_id, file_id)
        model = load_model(s, who, model_id)
        labels = list(model.categories)
        version = _production(s, model) if model.production_version_id else None
        blob, name, pages = row.blob_hash, row.filename, list(row.pages)
    lines = read_blob(ctx, blob, name)
    suggestions: list[dict[str, Any]] = []
    for page_no, (page_lines, size) in enumerate(zip(lines, pages, strict=True)):
        if version is not None:
            fields = _predictor(ctx, version).predict(page_lines, size["width"], size["height"])
            suggestions += [_object(f.label, f.box.as_dict(), f.text, page_no) for f in fields]
        else:
            suggestions += [
                _object(labels[0], t.box.as_dict(), t.text, page_no) for t in page_lines
            ]
    return Preannotation(source="model" if version is not None else "ocr", object=suggestions)


def page_image(ctx: AppContext, who: Principal, model_id: str, file_id: str, page: int) -> bytes:
    return stored_page_image(ctx, *_blob_of(ctx, who, model_id, file_id), page)


def text_under(
    ctx: AppContext, who: Principal, model_id: str, file_id: str, page: int, box: Box
) -> str:
    return stored_text_under(ctx, *_blob_of(ctx, who, model_id, file_id), page, box)


def _blob_of(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> tuple[str, str]:
    with ctx.session() as s:
        row = load_training_file(s, who, model_id, file_id, decision=False)
        return row.blob_hash, row.filename


def _object(label: str, box: dict[str, int], text: str, page: int) -> dict[str, Any]:
    return {"name": label, "bndbox": box, "ocr_text": text, "page": page}


def load_training_file(
    session: Any, who: Principal, model_id: str, file_id: str, *, decision: bool = True
) -> TrainingFile:
    """The model's training file, for a use that shows or changes its annotations: refused
    (``decision``) when it is the approved copy of a file under the caller's open second
    review. Its page images and OCR text (``decision=False``) stay open."""
    load_model(session, who, model_id)
    row = session.get(TrainingFile, file_id)
    if row is None or row.model_id != model_id:
        raise NotFound(f"no training file {file_id!r} for model {model_id}")
    if decision and row.source and row.source.startswith(REVIEW_SOURCE):
        second_review.refuse_if_blind(session, who, row.source.removeprefix(REVIEW_SOURCE))
    return row


def _view(row: TrainingFile) -> TrainingFileView:
    return TrainingFileView(
        id=row.id,
        filename=row.filename,
        source=row.source or "upload",
        pages=row.pages,
        object=[
            {"name": a["label"], "bndbox": a.get("box"), "ocr_text": a.get("text") or "",
             "page": a.get("page", 0)}
            for a in row.annotations
        ],
        transcribed_lines=len(row.transcription or []),
        created_at=utc(row.created_at).isoformat(),
    )  # fmt: skip
