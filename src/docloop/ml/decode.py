"""Per-word class probabilities -> fields: grouped words, a refined box, corrected text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docloop.domain import Box, FieldPrediction, OcrToken
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import join_text

FALLBACK_MIN_PROB = 0.15


@dataclass
class BoxRefiner:
    """Learned per-label offsets from the words' union box to the annotated box.

    Offsets are medians over the training fields, in units of the union box's width and height, so a
    plate's frame around its characters or a line-wide receipt box is learned, not assumed.
    """

    offsets: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, pairs: Sequence[tuple[str, Box, Box]]) -> BoxRefiner:
        """Learn from (label, union of the field's words, annotated box)."""
        deltas: dict[str, list[list[float]]] = {}
        for label, words, target in pairs:
            w, h = max(words.width, 1.0), max(words.height, 1.0)
            deltas.setdefault(label, []).append(
                [
                    (target.xmin - words.xmin) / w,
                    (target.ymin - words.ymin) / h,
                    (target.xmax - words.xmax) / w,
                    (target.ymax - words.ymax) / h,
                ]
            )
        return cls({k: np.median(np.array(v), axis=0).tolist() for k, v in deltas.items()})

    def refine(self, label: str, words: Box, width: int, height: int) -> Box:
        dx0, dy0, dx1, dy1 = self.offsets.get(label, [0.0, 0.0, 0.0, 0.0])
        w, h = max(words.width, 1.0), max(words.height, 1.0)
        return Box(
            max(0.0, words.xmin + dx0 * w),
            max(0.0, words.ymin + dy0 * h),
            min(float(width), words.xmax + dx1 * w),
            min(float(height), words.ymax + dy1 * h),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"offsets": self.offsets}


def group_fields(
    tokens: Sequence[OcrToken],
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    width: int,
    height: int,
    refiner: BoxRefiner,
    shapes: TextShapeModel,
) -> list[FieldPrediction]:
    """Words tagged with a label, grouped into nearby clusters; one prediction per cluster."""
    out: list[FieldPrediction] = []
    if len(tokens) == 0:
        return out
    winners = probs.argmax(axis=1)
    for k, label in enumerate(labels, start=1):
        members = [i for i in range(len(tokens)) if winners[i] == k]
        if not members:
            best = int(probs[:, k].argmax())
            if probs[best, k] < FALLBACK_MIN_PROB:
                continue
            members = [best]
        for cluster in _clusters([tokens[i] for i in members]):
            idx = _dedupe([members[j] for j in cluster], tokens, probs[:, k])
            words = [tokens[i] for i in idx]
            union = words[0].box
            for w in words[1:]:
                union = union.union(w.box)
            text = shapes.correct(label, join_text(words))
            out.append(
                FieldPrediction(
                    label=label,
                    box=refiner.refine(label, union, width, height),
                    text=text,
                    score=float(np.mean(probs[idx, k])),
                )
            )
    return out


def _clusters(words: Sequence[OcrToken]) -> list[list[int]]:
    """Connected groups: words on neighbouring lines or close on the same line."""
    parent = list(range(len(words)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(words):
        for j in range(i + 1, len(words)):
            b = words[j]
            unit = max(a.box.height, b.box.height, 1.0)
            gap_y = max(0.0, max(a.box.ymin, b.box.ymin) - min(a.box.ymax, b.box.ymax))
            gap_x = max(0.0, max(a.box.xmin, b.box.xmin) - min(a.box.xmax, b.box.xmax))
            if gap_y <= 1.0 * unit and gap_x <= 3.0 * unit:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(words)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _dedupe(idx: list[int], tokens: Sequence[OcrToken], prob: np.ndarray) -> list[int]:
    """Drop words the engine read twice (same text, heavily overlapping boxes)."""
    keep: list[int] = []
    for i in sorted(idx, key=lambda i: -prob[i]):
        if not any(
            tokens[j].text == tokens[i].text and tokens[j].box.iou(tokens[i].box) > 0.5
            for j in keep
        ):
            keep.append(i)
    return keep
