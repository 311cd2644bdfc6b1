"""Full-page transcriptions: every printed line of a training file, with its box and its text.

Some teams have them (a transcription service, a dataset like SROIE's ``lines/``). They are
optional training data: the field tagger also learns from each transcribed page as a second view
of it, its words as printed rather than as the OCR engine read them. They never reach the model's
validation figures or its text correction, which must describe the engine's own output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docloop.services.annotation import load_training_file
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.datasets import validate_transcription
from docloop.services.models import load_model, touch
from docloop.services.users import require


@dataclass(frozen=True, slots=True)
class Transcription:
    """A training file's transcription: each printed line's page, box and text."""

    file_id: str
    filename: str
    lines: list[dict[str, Any]]
    """``{"page", "bndbox", "text"}`` each, the box in pixels."""


def get(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> Transcription:
    with ctx.session() as s:
        return _view(load_training_file(s, who, model_id, file_id))


def put(
    ctx: AppContext, who: Principal, model_id: str, file_id: str, lines: object
) -> Transcription:
    """Replace the file's transcription; the next training learns from it."""
    require(who, "annotate")
    with ctx.session() as s:
        row = load_training_file(s, who, model_id, file_id)
        sizes = [(p["width"], p["height"]) for p in row.pages]
        row.transcription = validate_transcription(lines, sizes, row.filename)
        touch(load_model(s, who, model_id))
        return _view(row)


def delete(ctx: AppContext, who: Principal, model_id: str, file_id: str) -> Transcription:
    return put(ctx, who, model_id, file_id, None)


def _view(row: Any) -> Transcription:
    lines = row.transcription or []
    return Transcription(
        file_id=row.id,
        filename=row.filename,
        lines=[{"page": ln["page"], "bndbox": ln["box"], "text": ln["text"]} for ln in lines],
    )
