"""Which OCR words belong to which annotated field: the supervision the field model learns from.

A word belongs to a field when it lies inside the field's box and, when the field's text is
known, its characters are mostly found in that text in order, or it holds that text whole. That
keeps "DATE:" out of a date field whose box covers the whole printed line, without any rule that
knows about dates, and keeps in the word the engine glued to its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from docloop.domain import Annotation, Box, OcrToken

MIN_MATCH = 0.6
MIN_HELD = 0.9  # of a field's characters, in order, for a word to hold the field whole


def comparable(text: str) -> str:
    """A field's text as training compares it: upper case, whitespace dropped."""
    return "".join(text.upper().split())


def in_order_match(token: str, target: str) -> float:
    """Share of ``token``'s characters found in ``target`` as a common subsequence."""
    a, b = comparable(token), comparable(target)
    if not a:
        return 0.0
    return common_subsequence(a, b) / len(a)


def common_subsequence(a: str, b: str) -> int:
    """Length of the longest common subsequence of ``a`` and ``b``, bit-parallel: one integer
    holds a row of the dynamic programme (Crochemore et al., 2001). Training matches the words
    of every synthetic page to its fields, so this runs for thousands of words per epoch."""
    where: dict[str, int] = {}
    for j, c in enumerate(b):
        where[c] = where.get(c, 0) | (1 << j)
    full = (1 << len(b)) - 1
    row = full
    for c in a:
        hit = row & where.get(c, 0)
        row = ((row + hit) | (row - hit)) & full
    return len(b) - row.bit_count()


def _match(word: str, text: str) -> float:
    """How surely ``word`` is (part of) a field reading ``text``.

    A word the engine glued to its neighbours (":19-03-201818:08:38" for the date "19-03-2018")
    is mostly other characters, yet it is the only word that holds the value. Left unassigned,
    it taught the network that such words are never dates, and six val receipts got no date;
    assigned, text correction cuts the value out of it.
    """
    part = in_order_match(word, text)
    if part < MIN_MATCH and in_order_match(text, word) >= MIN_HELD:
        return MIN_MATCH
    return part


def _inside(boxes: np.ndarray, box: Box) -> np.ndarray:
    """Share of each of ``boxes`` (n, 4: x0 y0 x1 y1) inside ``box``; a box without area
    counts whole when its centre is inside."""
    ix = np.clip(np.minimum(boxes[:, 2], box.xmax) - np.maximum(boxes[:, 0], box.xmin), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box.ymax) - np.maximum(boxes[:, 1], box.ymin), 0, None)
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    area = w * h
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    centred = (box.xmin <= cx) & (cx <= box.xmax) & (box.ymin <= cy) & (cy <= box.ymax)
    return np.where(area > 0, ix * iy / np.where(area > 0, area, 1.0), centred.astype(float))


def assign(
    tokens: Sequence[OcrToken], annotations: Sequence[Annotation], labels: Sequence[str]
) -> tuple[list[int], list[int]]:
    """Per token: class index (0 = no field, i + 1 = labels[i]) and annotation index (-1 none)."""
    classes = [0] * len(tokens)
    owner = [-1] * len(tokens)
    best = [0.0] * len(tokens)
    index = {name: i + 1 for i, name in enumerate(labels)}
    boxes = np.array([[t.box.xmin, t.box.ymin, t.box.xmax, t.box.ymax] for t in tokens], float)
    for a_idx, ann in enumerate(annotations):
        if ann.box is None or ann.label not in index or not len(tokens):
            continue
        inside = _inside(boxes, ann.box)
        for t_idx in np.flatnonzero(inside >= 0.5).tolist():
            tok, overlap = tokens[t_idx], float(inside[t_idx])
            match = _match(tok.text, ann.text) if ann.text else 1.0
            if match < MIN_MATCH:
                continue
            score = overlap + match
            if score > best[t_idx]:
                best[t_idx] = score
                classes[t_idx] = index[ann.label]
                owner[t_idx] = a_idx
    return classes, owner


def words_by_field(
    tokens: Sequence[OcrToken], annotations: Sequence[Annotation], labels: Sequence[str]
) -> list[tuple[Annotation, list[OcrToken]]]:
    """Each annotation with the words ``assign`` gave it (an empty list when none)."""
    _, owner = assign(tokens, annotations, labels)
    return [
        (ann, [t for t, o in zip(tokens, owner, strict=True) if o == a_idx])
        for a_idx, ann in enumerate(annotations)
    ]
