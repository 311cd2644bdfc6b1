"""A field's confidence as the chance that its box is right, learned from held-out pages.

The decoder's raw score (its tagged words' mean probability times how plausible its text is)
orders the candidates of one page well, but it knows nothing of where the box lands: the words
of a wide dealer's sign can be as sure as a plate's, and a box unlike any the label was trained
on is more often wrong. Ranking by correctness is what average precision and a client's
threshold need, and one box a page is only as good as the choice between its candidates. So
training decodes the pages each ensemble member held out, marks every candidate by whether its
box overlaps an annotated box of its label at IoU >= 0.5, and fits per label a logistic
regression from the candidate's evidence (``EVIDENCE``) to that outcome. A label with too few
held-out hits or misses to learn from keeps the raw score.

The raw score enters whole, not as its factors: held-out plates showed that a plausible reading
the network doubted beats an implausible one it was sure of (the product says so), which a sum
of the factors' separate weights, fitted mostly on easy alternatives, reversed.

A fit whose weight on the raw score is not positive is not used: it would score a candidate the
network doubted above one it was sure of with the same box, which is what held-out boxes teach
when a doubted neighbour shares the annotated box (the time printed beside a receipt's date,
inside a box drawn over both); the label keeps its raw scores. Nor is a fit that tells the
held-out hits from the misses no better than their share alone (a likelihood-ratio test at the
usual 5% level, ``MIN_LIKELIHOOD_RATIO``): its score is nearly one constant, and the small
weights on either evidence then order a page's candidates by noise. One fold's 40 held-out dates
(8 misses) gave a weight of 0.008 on the raw score and 0.06 on the box shape; its model
returned the time or a quantity beside a date over the date itself, and read 0.679 of the
fold's dates right, against 0.902 with raw scores.

A box unlike the label's training boxes is never taken as a sign of a right one: where the fit
gives the box's distance from them a positive weight, the label is fitted on the raw score alone.
Such a weight is learned from the few held-out candidates, whose boxes differ little, and a
logistic regression's weight applies in full far beyond them: one fold's totals weighed the
distance +1.19, and the fold's model returned a doubted "PM" (network probability 0.05) whose
box was unlike any total's above the total it was sure of (0.76).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# What each candidate field is scored from, in this order (see ``decode.Candidate``).
EVIDENCE = (
    "logit of the raw score (tagged words' mean probability times the text's plausibility)",
    "distance of the words' box shape from the label's training boxes",
)
# Held-out hits and misses a label needs, each, before its scores are learned: with fewer, a
# fitted slope is mostly noise.
MIN_OUTCOMES = 5
# L2 penalty on the standardised slopes (the intercept is free): a prior that pulls a weakly
# supported slope to no effect, as ridge does in ``boxes.py``.
PENALTY = 1.0
LOGIT_BOUND = 8.0
# Twice the log-likelihood a fit gains over the hit rate alone: the chi-square 95% point for its
# weights on ``EVIDENCE`` (by how many it fits).
MIN_LIKELIHOOD_RATIO = {1: 3.841, 2: 5.991}


def logit(p: float) -> float:
    """log(p / (1 - p)), bounded so that certainty stays finite."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return max(-LOGIT_BOUND, min(LOGIT_BOUND, math.log(p / (1 - p))))


@dataclass
class Calibration:
    """Per label: the evidence's mean and scale on the held-out candidates, and the logistic
    weights on the standardised evidence (intercept first). A label absent keeps raw scores."""

    mean: dict[str, list[float]] = field(default_factory=dict)
    scale: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, outcomes: Iterable[tuple[str, Sequence[float], bool]]) -> Calibration:
        """Learn from (label, evidence, whether the box was right) of held-out candidates."""
        by_label: dict[str, tuple[list[Sequence[float]], list[bool]]] = {}
        for label, evidence, hit in outcomes:
            xs, ys = by_label.setdefault(label, ([], []))
            xs.append(evidence)
            ys.append(hit)
        out = cls()
        for label, (xs, ys) in by_label.items():
            hits = sum(ys)
            if min(hits, len(ys) - hits) < MIN_OUTCOMES:
                continue
            x = np.asarray(xs, dtype=float)
            mean, scale = x.mean(axis=0), x.std(axis=0)
            scale[scale < 1e-9] = 1.0  # a constant feature: its slope stays 0
            y = np.asarray(ys, dtype=float)
            z = (x - mean) / scale
            w = _logistic(z, y)
            if w[2] > 0:  # see the module's docstring: an odd box is never a sign of a right one
                w = np.append(_logistic(z[:, :1], y), 0.0)
            if w[1] <= 0:
                continue  # see the module's docstring: it would rank doubt above belief
            if _likelihood_ratio(z, y, w) < MIN_LIKELIHOOD_RATIO[int(np.count_nonzero(w[1:]))]:
                continue  # no better than the hit rate: the ranking would be noise
            out.mean[label] = mean.round(6).tolist()
            out.scale[label] = scale.round(6).tolist()
            out.weights[label] = w.round(6).tolist()
        return out

    def knows(self, label: str) -> bool:
        return label in self.weights

    def score(self, label: str, evidence: Sequence[float]) -> float:
        """The chance the field's box is right (call only for labels it ``knows``)."""
        z = (np.asarray(evidence, dtype=float) - self.mean[label]) / self.scale[label]
        w = np.asarray(self.weights[label])
        return float(1.0 / (1.0 + np.exp(-(w[0] + z @ w[1:]))))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "scale": self.scale, "weights": self.weights}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration:
        """Bundles made before calibration existed have none: every label keeps raw scores."""
        return cls(**data) if data else cls()


def _logistic(x: np.ndarray, y: np.ndarray, iterations: int = 50) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method; intercept first, unpenalised."""
    design = np.hstack([np.ones((len(x), 1)), x])
    penalty = PENALTY * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    w = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - y) + penalty @ w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _likelihood_ratio(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Twice the log-likelihood of outcomes ``y`` under weights ``w`` over that under their
    mean alone."""
    p = 1.0 / (1.0 + np.exp(-(w[0] + x @ w[1:])))
    rate = y.mean()

    def log_likelihood(q: np.ndarray | float) -> float:
        q = np.clip(q, 1e-12, 1 - 1e-12)
        return float(np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)))

    return 2.0 * (log_likelihood(p) - log_likelihood(rate))
