"""A training page's field lines: each text line under an annotated field, cut from the page,
with the part of the field's text it shows (``align.py``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from docloop.domain import Annotation, OcrToken, enclosing
from docloop.ml.recognizer import crops
from docloop.ml.recognizer.align import split_text
from docloop.ml.recognizer.tune import Line
from docloop.ml.tokens import line_quad, reading_order

MIN_INSIDE = 0.5  # share of a line's box inside the field's box for it to be the field's


def page_lines(words: Sequence[OcrToken]) -> list[OcrToken]:
    """The engine's lines back from a page's words (``split_words`` keeps each word's line):
    one token per line, its words' text joined by spaces, in reading order, with the
    quadrilateral the engine cut it along where the words keep theirs."""
    grouped: dict[int, list[OcrToken]] = {}
    for w in words:
        grouped.setdefault(w.line, []).append(w)
    lines = [
        OcrToken(
            " ".join(w.text for w in sorted(ws, key=lambda w: w.box.xmin)),
            enclosing(w.box for w in ws),
            min(w.score for w in ws),
            line,
            quad=line_quad(ws),
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
        under = lines_under(lines, ann)
        pieces = split_text(ann.text, [ln.text for ln in under])
        for ln, piece in zip(under, pieces, strict=True):
            crop = crops.cut(image, ln.box, ln.quad) if piece else None
            if piece and crop is not None:
                out.append(Line(crop, piece, f"{key}:{n}", ln.text))
    return out


def lines_under(lines: Sequence[OcrToken], annotation: Annotation) -> list[OcrToken]:
    """The lines (``page_lines``) mostly inside the annotation's box."""
    box = annotation.box
    if box is None:
        return []
    return [
        ln
        for ln in lines
        if ln.box.area() > 0 and ln.box.intersection(box) / ln.box.area() >= MIN_INSIDE
    ]
