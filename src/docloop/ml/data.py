"""Labelled pages -> padded tensors for the field tagger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from docloop.domain import Annotation, OcrToken
from docloop.ml.features import GEO_DIM, MAX_CHARS, PAIR_DIM, page_features, pair_features
from docloop.ml.labels import assign


@dataclass(frozen=True, slots=True)
class LabelledPage:
    """One page of a training file: its OCR words and the fields annotated on it."""

    words: list[OcrToken]
    width: int
    height: int
    annotations: list[Annotation]


@dataclass(frozen=True, slots=True)
class Example:
    chars: np.ndarray
    geo: np.ndarray
    pairs: np.ndarray
    classes: np.ndarray


def make_example(page: LabelledPage, labels: Sequence[str]) -> Example:
    chars, geo = page_features(page.words, page.width, page.height)
    classes, _ = assign(page.words, page.annotations, labels)
    return Example(chars, geo, pair_features(geo), np.array(classes, dtype=np.int64))


def collate(batch: Sequence[Example]) -> dict[str, np.ndarray]:
    """Pad a batch to its longest page; ``mask`` marks real tokens."""
    t = max(max(len(e.classes) for e in batch), 1)
    b = len(batch)
    chars = np.zeros((b, t, MAX_CHARS), np.int64)
    geo = np.zeros((b, t, GEO_DIM), np.float32)
    pairs = np.zeros((b, t, t, PAIR_DIM), np.float32)
    classes = np.full((b, t), -100, np.int64)
    mask = np.zeros((b, t), np.float32)
    for i, e in enumerate(batch):
        n = len(e.classes)
        if n == 0:
            continue
        chars[i, :n] = e.chars
        geo[i, :n] = e.geo
        pairs[i, :n, :n] = e.pairs
        classes[i, :n] = e.classes
        mask[i, :n] = 1.0
    return {"chars": chars, "geo": geo, "pairs": pairs, "classes": classes, "mask": mask}
