"""Where a field's box lies, given the words it was read from: a small learned regression per label.

The annotated box is rarely the words' own box. A plate's frame is a margin around its
characters, larger for a one-line plate than for a two-line one; a receipt's date box is the
whole printed line around the date. A constant offset cannot express both shapes, so per label
we fit a ridge regression from a base box (its aspect, its height relative to the page, the
number of lines it spans) to the target, in detection-head coordinates: centre shifts in units
of the base box and log size ratios. The base is either the words' own box or the box of the
whole OCR lines they sit on, and the loss squared or robust (Huber), whichever places the
label's training boxes better in cross-validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docloop.domain import Box, OcrToken, enclosing

N_FEATURES = 4
# Below this many examples of a label only the mean shift is learned (no slopes).
MIN_FOR_SLOPES = 12
RIDGE = 1.0
# The fits a label's boxes may take, by base box and loss: chosen per label by cross-validation
# on its training fields (``_quality``), in ``FIT_FOLDS`` folds; the first wins ties.
FITS = (("words", False), ("lines", False), ("words", True), ("lines", True))
FIT_FOLDS = 5
# Huber's constant: 95% of least squares' efficiency when errors are normal, bounded weight for
# those that are not.
HUBER = 1.345
ROBUST_ROUNDS = 10
MAX_LOG_SCALE = 3.0
# The least spread a box feature is given: where every training field shares a value (one-line
# fields), a candidate off it by a little is not infinitely unusual.
MIN_SPREAD = 0.1


@dataclass(frozen=True, slots=True)
class BoxSample:
    """One field: the union of its words, of their whole lines, how many lines, the page size."""

    label: str
    words: Box
    line_box: Box
    lines: int
    page_width: int
    page_height: int
    target: Box | None = None

    @classmethod
    def of_words(
        cls,
        label: str,
        words: Sequence[OcrToken],
        lines: Mapping[int, Box],
        page_width: int,
        page_height: int,
        target: Box | None = None,
    ) -> BoxSample:
        """``lines``: the page's line boxes by line number (see ``line_boxes``)."""
        return cls(
            label,
            enclosing(w.box for w in words),
            enclosing(lines[w.line] for w in words),
            len({w.line for w in words}),
            page_width,
            page_height,
            target,
        )

    def base(self, kind: str) -> Box:
        return self.line_box if kind == "lines" else self.words


def line_boxes(tokens: Iterable[OcrToken]) -> dict[int, Box]:
    """The box of each OCR line, from its words."""
    out: dict[int, Box] = {}
    for t in tokens:
        out[t.line] = out[t.line].union(t.box) if t.line in out else t.box
    return out


def _features(words: Box, lines: int, page_height: int) -> np.ndarray:
    w, h = max(words.width, 1.0), max(words.height, 1.0)
    return np.array([1.0, np.log(w / h), np.log(h / max(page_height, 1)), min(lines, 4) - 1.0])


def _deltas(words: Box, target: Box) -> np.ndarray:
    w, h = max(words.width, 1.0), max(words.height, 1.0)
    return np.array(
        [
            (target.center[0] - words.center[0]) / w,
            (target.center[1] - words.center[1]) / h,
            np.log(max(target.width, 1.0) / w),
            np.log(max(target.height, 1.0) / h),
        ]
    )


@dataclass
class BoxRefiner:
    """Per label: ``base`` ("words" or "lines") and ``coef``, an N_FEATURES x 4 matrix.

    A label without either keeps the words' box. ``spread``: per label, the mean and standard
    deviation of the words' box features (all but the constant) over its training fields, so
    that a candidate's box can be told to be unlike them (``atypical``); models trained before
    it was kept have none."""

    coef: dict[str, list[list[float]]] = field(default_factory=dict)
    base: dict[str, str] = field(default_factory=dict)
    spread: dict[str, list[list[float]]] = field(default_factory=dict)

    @classmethod
    def fit(cls, samples: Sequence[BoxSample]) -> BoxRefiner:
        """Learn from samples with a ``target``; the others are ignored."""
        by_label: dict[str, list[tuple[BoxSample, Box]]] = {}
        for s in samples:
            if s.target is not None:
                by_label.setdefault(s.label, []).append((s, s.target))
        refiner = cls()
        for label, items in by_label.items():
            shapes = np.stack([_features(s.words, s.lines, s.page_height)[1:] for s, _ in items])
            refiner.spread[label] = [
                shapes.mean(axis=0).round(6).tolist(),
                np.maximum(shapes.std(axis=0), MIN_SPREAD).round(6).tolist(),
            ]
            kind, robust = max(FITS, key=lambda fit: _quality(items, *fit))
            refiner.coef[label], refiner.base[label] = _fit_one(items, kind, robust), kind
        return refiner

    def refine(self, sample: BoxSample) -> Box:
        """The predicted box of ``sample``'s field, within its page."""
        label = sample.label
        if label not in self.coef:
            return sample.words
        box = sample.base(self.base.get(label, "words"))
        d = _features(box, sample.lines, sample.page_height) @ np.array(self.coef[label])
        w, h = max(box.width, 1.0), max(box.height, 1.0)
        # The centre stays on the page, so the clipped box is never inverted.
        cx = float(np.clip(box.center[0] + d[0] * w, 0.0, sample.page_width))
        cy = float(np.clip(box.center[1] + d[1] * h, 0.0, sample.page_height))
        half_w = w * np.exp(np.clip(d[2], -MAX_LOG_SCALE, MAX_LOG_SCALE)) / 2
        half_h = h * np.exp(np.clip(d[3], -MAX_LOG_SCALE, MAX_LOG_SCALE)) / 2
        return Box(
            float(max(0.0, cx - half_w)),
            float(max(0.0, cy - half_h)),
            float(min(float(sample.page_width), cx + half_w)),
            float(min(float(sample.page_height), cy + half_h)),
        )

    def atypical(self, sample: BoxSample) -> float:
        """How unlike the label's training fields the words' box is: the root mean square of
        its features' standard scores (0 for a label with no ``spread``)."""
        if sample.label not in self.spread:
            return 0.0
        mean, sd = (np.asarray(v) for v in self.spread[sample.label])
        z = (_features(sample.words, sample.lines, sample.page_height)[1:] - mean) / sd
        return float(np.sqrt(np.mean(z**2)))

    def to_dict(self) -> dict[str, Any]:
        return {"coef": self.coef, "base": self.base, "spread": self.spread}


def _quality(
    items: Sequence[tuple[BoxSample, Box]], kind: str, robust: bool
) -> tuple[float, float]:
    """How well a fit of this kind places boxes it did not see: the share of held-out boxes
    hit at IoU >= 0.5 (what the metrics count), then their mean IoU, over ``FIT_FOLDS`` folds.
    Too few fields for folds are judged on the fit to themselves."""
    if len(items) < 2 * FIT_FOLDS:
        folds = [(list(items), list(items))]
    else:
        folds = [
            ([x for i, x in enumerate(items) if i % FIT_FOLDS != k], items[k::FIT_FOLDS])
            for k in range(FIT_FOLDS)
        ]
    ious = []
    for train, held in folds:
        label = train[0][0].label
        trial = BoxRefiner({label: _fit_one(train, kind, robust)}, {label: kind})
        ious += [trial.refine(s).iou(t) for s, t in held]
    return float(np.mean([v >= 0.5 for v in ious])), float(np.mean(ious))


def _fit_one(
    items: Sequence[tuple[BoxSample, Box]], kind: str, robust: bool = False
) -> list[list[float]]:
    """Ridge regression of the target's deltas on the base box's features; ``robust``:
    iteratively reweighted with Huber's weights, so that a few fields whose words are not
    what the annotator framed (a misread, a word outside the frame) do not pull every box."""
    x = np.stack([_features(s.base(kind), s.lines, s.page_height) for s, _ in items])
    y = np.stack([_deltas(s.base(kind), t) for s, t in items])
    if len(items) < MIN_FOR_SLOPES:
        x = x[:, :1]
    # The intercept is not shrunk: only the slopes pay the ridge penalty.
    penalty = RIDGE * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    weights = np.ones(len(items))
    for _ in range(ROBUST_ROUNDS if robust else 1):
        c = np.linalg.solve(x.T @ (x * weights[:, None]) + penalty, x.T @ (y * weights[:, None]))
        error = np.linalg.norm(y - x @ c, axis=1)
        cut = HUBER * 1.4826 * float(np.median(error)) + 1e-9  # 1.4826 MAD: a standard deviation
        weights = np.minimum(1.0, cut / np.maximum(error, 1e-12))
    full = np.zeros((N_FEATURES, 4))
    full[: c.shape[0]] = c
    return full.round(6).tolist()
