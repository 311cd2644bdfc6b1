"""A training page's field lines: each text line under an annotated field, cut from the page,
with the part of the field's text it shows (``align.py``); and the recognizer tuned on a
model's pages, with a share of them held out to decide whether it serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from docloop.domain import Annotation, OcrToken, enclosing
from docloop.ml.data import LabelledPage
from docloop.ml.recognizer import crops
from docloop.ml.recognizer.align import split_text
from docloop.ml.recognizer.tune import Line, TuneConfig, Tuned, tune
from docloop.ml.tokens import reading_order
from docloop.ml.train import group_keys

MIN_INSIDE = 0.5  # share of a line's box inside the field's box for it to be the field's
HOLD_EVERY = 5  # one page group in this many is held out to judge the tuned recognizer


def tune_on_pages(
    model: bytes,
    pages: Sequence[LabelledPage],
    image_of: Callable[[LabelledPage], np.ndarray | None],
    config: TuneConfig = TuneConfig(),  # noqa: B008 (frozen, so safe to share)
    progress: Callable[[str], None] | None = None,
) -> Tuned:
    """The recognizer ``model`` tuned on the engine-read pages' field lines; every
    ``HOLD_EVERY``-th group of near-duplicate pages is held out (the same pages in every
    training of the model) and decides whether the tuned graph serves. ``image_of`` gives a
    page's RGB image, asked once per page so that only its line crops stay in memory."""
    train: list[Line] = []
    held: list[Line] = []
    for page, key in zip(pages, group_keys(pages), strict=True):
        image = None if page.transcribed else image_of(page)
        if image is not None:
            lines = field_lines(image, page.words, page.annotations, page.key or str(key))
            (held if key % HOLD_EVERY == 0 else train).extend(lines)
    return tune(model, train, held, config, progress=progress)


def page_lines(words: Sequence[OcrToken]) -> list[OcrToken]:
    """The engine's lines back from a page's words (``split_words`` keeps each word's line):
    one token per line, its words' text joined by spaces, in reading order."""
    grouped: dict[int, list[OcrToken]] = {}
    for w in words:
        grouped.setdefault(w.line, []).append(w)
    lines = [
        OcrToken(
            " ".join(w.text for w in sorted(ws, key=lambda w: w.box.xmin)),
            enclosing(w.box for w in ws),
            min(w.score for w in ws),
            line,
        )
        for line, ws in grouped.items()
    ]
    return reading_order(lines)


def field_lines(
    image: np.ndarray, words: Sequence[OcrToken], annotations: Sequence[Annotation], key: str
) -> list[Line]:
    """Every aligned line of every annotated field with a text and a box on the page."""
    lines = page_lines(words)
    out = []
    for n, ann in enumerate(annotations):
        if ann.box is None or not ann.text or ann.text.strip() == "?":
            continue
        under = [
            ln
            for ln in lines
            if ln.box.area() > 0 and ln.box.intersection(ann.box) / ln.box.area() >= MIN_INSIDE
        ]
        pieces = split_text(ann.text, [ln.text for ln in under])
        for ln, piece in zip(under, pieces, strict=True):
            crop = crops.cut(image, ln.box) if piece else None
            if piece and crop is not None:
                out.append(Line(crop, piece, f"{key}:{n}", ln.text))
    return out
