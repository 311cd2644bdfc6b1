"""Page-level augmentation: the same page as another OCR engine run might have cut it into words.

OCR engines disagree on where words end: one reads a plate as "MH02CB4545", another as
"MH 02 CB 4545", and a receipt's "TOTAL:9.00" is one token or two. A model that has only seen
one cut of each field misses the pieces of another, so training pages are re-cut at random:
long words split at a character boundary, neighbouring words on a line merged. Labels are
assigned again afterwards by the usual rule, so nothing here knows about any field.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from docloop.domain import Box, OcrToken
from docloop.ml.data import LabelledPage

MIN_SPLIT_LEN = 4


def recut_words(
    page: LabelledPage, rng: np.random.Generator, p_split: float = 0.15, p_merge: float = 0.1
) -> LabelledPage:
    words: list[OcrToken] = []
    for w in page.words:
        if len(w.text) >= MIN_SPLIT_LEN and rng.random() < p_split:
            words.extend(_split(w, int(rng.integers(1, len(w.text)))))
        else:
            words.append(w)
    merged: list[OcrToken] = []
    for w in words:
        prev = merged[-1] if merged else None
        if prev is not None and prev.line == w.line and rng.random() < p_merge:
            merged[-1] = OcrToken(
                prev.text + w.text, prev.box.union(w.box), min(prev.score, w.score), w.line
            )
        else:
            merged.append(w)
    return replace(page, words=merged)


def _split(word: OcrToken, at: int) -> list[OcrToken]:
    """Two words with boxes in proportion to their characters, as ``split_words`` estimates."""
    b = word.box
    x = b.xmin + b.width * at / len(word.text)
    return [
        OcrToken(word.text[:at], Box(b.xmin, b.ymin, x, b.ymax), word.score, word.line),
        OcrToken(word.text[at:], Box(x, b.ymin, b.xmax, b.ymax), word.score, word.line),
    ]
