"""Active learning: which files would teach the model most once a person labels them.

Predictions are scored when they are made (``predictions`` stores each file's ``usefulness``,
and the review queue sorts on it in SQL). Training files uploaded without annotations have no
prediction: ``next_to_annotate`` scores them with the served model and picks a batch spread over
layout clusters, so a batch of 25 is not 25 near-duplicates of one doubtful page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from docloop.db.tables import TrainingFile
from docloop.errors import InvalidInput
from docloop.ml.tokens import split_words
from docloop.ml.usefulness import layout_embedding, pick_batch
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model
from docloop.services.ocr import read_blobs
from docloop.services.predictions import _predictor, _production
from docloop.services.users import require

MAX_BATCH = 200


@dataclass(frozen=True, slots=True)
class ToAnnotate:
    """A training file worth annotating next; ``usefulness`` is its most useful page's score."""

    id: str
    filename: str
    usefulness: float


def next_to_annotate(
    ctx: AppContext, who: Principal, model_id: str, n: int = 25
) -> list[ToAnnotate]:
    """Up to ``n`` of the model's training files with no annotation, most useful first.
    Needs a trained model."""
    require(who, "annotate")
    if not 1 <= n <= MAX_BATCH:
        raise InvalidInput(f"n must be between 1 and {MAX_BATCH}")
    with ctx.session() as s:
        version = _production(s, load_model(s, who, model_id))
        rows = s.scalars(
            select(TrainingFile)
            .where(TrainingFile.model_id == model_id)
            .order_by(TrainingFile.created_at, TrainingFile.id)
        ).all()
        todo = [(r.id, r.filename, r.blob_hash, list(r.pages)) for r in rows if not r.annotations]
    if not todo:
        return []
    predictor = _predictor(ctx, version)
    scored = []
    for lines, (file_id, name, _, sizes) in zip(
        read_blobs(ctx, [(blob, name) for _, name, blob, _ in todo]), todo, strict=True
    ):
        pages = [
            (predictor.assess(page, size["width"], size["height"])[1].score, page, size)
            for page, size in zip(lines, sizes, strict=True)
        ]
        if pages:
            score, page, size = max(pages, key=lambda p: p[0])
            embedding = layout_embedding(split_words(page), size["width"], size["height"])
            scored.append((ToAnnotate(file_id, name, score), embedding))
    picked = pick_batch([f.usefulness for f, _ in scored], np.array([e for _, e in scored]), n)
    return [scored[i][0] for i in picked]
