"""What the training pages say about each label's layout, used when words become fields.

How many instances of a label a page holds, and whether one instance spans several lines, are
learned from the annotations rather than assumed: a user's "number_plate" is one per photo and
sometimes two lines, a receipt's "total" is one amount on one line, an invoice's "line_item"
repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docloop.domain import Box, OcrToken
from docloop.ml.data import LabelledPage
from docloop.ml.labels import comparable, words_by_field
from docloop.ml.lexicon import closing_words, line_vocabularies
from docloop.ml.rounding import amount_endings
from docloop.ml.tokens import rows_of

# A label is read as one-line when at most this share of its training fields span more lines.
MULTILINE_SHARE = 0.05
MIN_FIELDS = 10
# Gaps between words of one field, in line heights, when too few fields show them.
DEFAULT_GAP_X, DEFAULT_GAP_Y = 3.0, 1.0
GAP_MARGIN = 1.25
ALWAYS_SHARE = 0.9  # of training pages, those holding a label that is always looked for
WHOLE_LINE_SHARE = 0.9  # of a label's training fields, those taking every word of their lines


def gaps(a: Box, b: Box) -> tuple[float, float]:
    """Horizontal and vertical space between two word boxes, in units of the smaller height."""
    unit = max(min(a.height, b.height), 1.0)
    gap_x = max(0.0, max(a.xmin, b.xmin) - min(a.xmax, b.xmax))
    gap_y = max(0.0, max(a.ymin, b.ymin) - min(a.ymax, b.ymax))
    return gap_x / unit, gap_y / unit


@dataclass
class FieldLayout:
    """``instances[label]``: how many pages held at least 1, 2, ... of it;
    ``single_line``: labels whose fields stay on one OCR line;
    ``max_gap[label]``: the widest horizontal and vertical gaps (in line heights) between
    neighbouring words of one field, with a margin;
    ``whole_line``: labels whose fields take every word of the OCR lines they are on;
    ``longest[label]``: the most characters (spaces aside) a training field's text held;
    ``vocabulary[label]``: the words of labels whose lines are told apart by them
    (``lexicon.line_vocabularies``);
    ``most_rows[label]``: the most rows of words (``tokens.rows_of``) a training field spanned;
    ``closing[label]``: the words that close its values (``lexicon.closing_words``);
    ``endings[label]``: how many of its values end with each digit, where they are amounts
    (``rounding.amount_endings``)."""

    instances: dict[str, list[int]] = field(default_factory=dict)
    single_line: list[str] = field(default_factory=list)
    max_gap: dict[str, list[float]] = field(default_factory=dict)
    pages: int = 0  # training pages; 0 in models trained before it was kept
    whole_line: list[str] = field(default_factory=list)
    longest: dict[str, int] = field(default_factory=dict)
    vocabulary: dict[str, list[str]] = field(default_factory=dict)
    most_rows: dict[str, int] = field(default_factory=dict)  # empty in models trained before
    closing: dict[str, list[str]] = field(default_factory=dict)  # empty in models trained before
    endings: dict[str, dict[str, int]] = field(default_factory=dict)  # empty in models before

    @classmethod
    def fit(cls, pages: Sequence[LabelledPage], labels: Sequence[str]) -> FieldLayout:
        layout = cls(
            pages=len(pages),
            vocabulary=line_vocabularies(pages, labels),
            closing=closing_words(pages, labels),
        )
        spans: dict[str, list[int]] = {label: [] for label in labels}
        rows: dict[str, list[int]] = {label: [] for label in labels}
        seen_gaps: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in labels}
        whole: dict[str, list[bool]] = {label: [] for label in labels}
        for page in pages:
            for ann, words in words_by_field(page.words, page.annotations, labels):
                if words and ann.label in spans:
                    lines = {w.line for w in words}
                    spans[ann.label].append(len(lines))
                    rows[ann.label].append(len(rows_of(words)))
                    whole[ann.label].append(len(words) == sum(t.line in lines for t in page.words))
                    gx, gy = _field_gaps(words)
                    seen_gaps[ann.label][0].extend(gx)
                    seen_gaps[ann.label][1].extend(gy)
        for label in labels:
            texts = [
                comparable(a.text)
                for p in pages
                for a in p.annotations
                if a.label == label and a.text
            ]
            if len(texts) >= MIN_FIELDS:
                layout.longest[label] = max(len(t) for t in texts)
            if endings := amount_endings(texts):
                layout.endings[label] = endings
            counts = [sum(a.label == label for a in p.annotations) for p in pages]
            top = max(counts, default=0)
            layout.instances[label] = [sum(c >= k for c in counts) for k in range(1, top + 1)]
            multi = sum(n > 1 for n in spans[label])
            if len(spans[label]) >= MIN_FIELDS and multi <= MULTILINE_SHARE * len(spans[label]):
                layout.single_line.append(label)
            if len(rows[label]) >= MIN_FIELDS:
                layout.most_rows[label] = max(rows[label])
            taken = whole[label]
            if len(taken) >= MIN_FIELDS and sum(taken) >= WHOLE_LINE_SHARE * len(taken):
                layout.whole_line.append(label)
            layout.max_gap[label] = [
                _learned_gap(seen_gaps[label][0], DEFAULT_GAP_X),
                _learned_gap(seen_gaps[label][1], DEFAULT_GAP_Y),
            ]
        return layout

    def joins(self, label: str, a: OcrToken, b: OcrToken, slack: float = 1.0) -> bool:
        """Whether two words tagged ``label`` are close enough to be one field; ``slack``
        widens the learned gaps."""
        if label in self.single_line and a.line != b.line:
            return False
        max_x, max_y = self.max_gap.get(label, (DEFAULT_GAP_X, DEFAULT_GAP_Y))
        gap_x, gap_y = gaps(a.box, b.box)
        return gap_x <= max_x * slack and gap_y <= max_y * slack

    def always_present(self, label: str) -> bool:
        """Whether nearly every training page held ``label``."""
        counts = self.instances.get(label)
        return bool(self.pages and counts) and counts[0] >= ALWAYS_SHARE * self.pages

    def rank_prior(self, label: str, rank: int) -> float:
        """How likely a page holds a (rank+1)-th instance of ``label``, as training pages say
        (smoothed); 1.0 for the first instance or a label never seen."""
        counts = self.instances.get(label)
        if not counts or rank == 0:
            return 1.0
        seen = counts[rank] if rank < len(counts) else 0
        return (seen + 1) / (counts[0] + 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "single_line": self.single_line,
            "max_gap": self.max_gap,
            "pages": self.pages,
            "whole_line": self.whole_line,
            "longest": self.longest,
            "vocabulary": self.vocabulary,
            "most_rows": self.most_rows,
            "closing": self.closing,
            "endings": self.endings,
        }


def _field_gaps(words: Sequence[OcrToken]) -> tuple[list[float], list[float]]:
    """Gaps between neighbours within a field: next word on a line, next line down."""
    gx: list[float] = []
    by_line: dict[int, list[OcrToken]] = {}
    for w in words:
        by_line.setdefault(w.line, []).append(w)
    for line in by_line.values():
        line.sort(key=lambda w: w.box.xmin)
        gx.extend(gaps(a.box, b.box)[0] for a, b in zip(line, line[1:], strict=False))
    rows = sorted(by_line.values(), key=lambda ws: min(w.box.ymin for w in ws))
    gy = [
        min(gaps(a.box, b.box)[1] for a in up for b in down)
        for up, down in zip(rows, rows[1:], strict=False)
    ]
    return gx, gy


def _learned_gap(observed: Sequence[float], default: float) -> float:
    if len(observed) < MIN_FIELDS:
        return default
    return round(float(np.percentile(observed, 95)) * GAP_MARGIN + 0.1, 3)
