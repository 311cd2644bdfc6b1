"""Labelled pages -> padded tensors for the field tagger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from docloop.domain import Annotation, OcrToken
from docloop.ml.features import (
    GEO_DIM,
    MAX_CHARS,
    PAIR_DIM,
    TEXT_COLUMNS,
    page_features,
    pair_features,
    text_features,
)
from docloop.ml.labels import assign


@dataclass(frozen=True, slots=True)
class LabelledPage:
    """One page of a training file: its OCR words and the fields annotated on it.

    Pages sharing a ``group`` (near-duplicate images) always fall on the same side of a split.
    ``key`` names the page across trainings (content hash and page number), so two versions'
    validation results can be compared on the pages both scored."""

    words: list[OcrToken]
    width: int
    height: int
    annotations: list[Annotation]
    group: str = ""
    key: str = ""
    # Words from a full-page transcription, not from the engine: training only, never scored
    # and never a source for the decoders, which must describe the engine's output.
    transcribed: bool = False


@dataclass(frozen=True, slots=True)
class Example:
    chars: np.ndarray
    geo: np.ndarray
    pairs: np.ndarray
    classes: np.ndarray

    def __reduce__(self) -> tuple[object, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Stored without ``pairs``: T x T x 7 floats per page would be most of a cached
        examples step (about 300 MB for 400 receipts), and they are cheap to derive again."""
        return _without_pairs, (self.chars, self.geo, self.classes)


def _without_pairs(chars: np.ndarray, geo: np.ndarray, classes: np.ndarray) -> Example:
    return Example(chars, geo, pair_features(geo), classes)


def make_example(page: LabelledPage, labels: Sequence[str]) -> Example:
    chars, geo = page_features(page.words, page.width, page.height)
    classes, _ = assign(page.words, page.annotations, labels)
    return Example(chars, geo, pair_features(geo), np.array(classes, dtype=np.int64))


def retexted_example(source: Example, page: LabelledPage, labels: Sequence[str]) -> Example:
    """``make_example(page, labels)`` for a page whose words are those ``source`` was made of,
    in the same order and boxes, with other texts and annotations (a synthetic page): only
    what texts set is computed again, the rest (the pairwise layout most of all) is
    ``source``'s. Training makes one such page for every other page it reads."""
    chars, text_geo = text_features(page.words)
    geo = source.geo.copy()
    geo[:, TEXT_COLUMNS] = text_geo
    classes, _ = assign(page.words, page.annotations, labels)
    return Example(chars, geo, source.pairs, np.array(classes, dtype=np.int64))


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
