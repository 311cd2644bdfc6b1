"""How useful a page would be to review or label next: the model's doubt about it mixed with
how unlike the training pages it looks (active learning).

Four signals, each in [0, 1]:

- ``confidence``: one minus the score of the label's best field, for the weakest label on the
  page (no field at all: 1). A reviewer will most likely correct what the model was least sure of.
- ``margin``: one minus the gap between a label's best and second candidate, for the closest
  label: two readings nearly as likely are a choice the model could not make.
- ``disagreement``: the ensemble members' mutual information (BALD) on the page's most disputed
  word, over its bound: members sure of different classes mean the training data did not decide
  that word, which a low mean confidence alone does not tell from plain noise.
- ``novelty``: how far the page's layout embedding lies from the training pages' k-means
  clusters, and how few training pages its cluster holds: a kind of page the model has barely seen.

``WEIGHTS`` mixes them into one score. Numpy only: the server computes it beside every
prediction, and serving never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docloop.domain import FieldPrediction, OcrToken

GRID = 4  # the word-position histogram is GRID x GRID cells
HEIGHT_BINS = (0.02, 0.05, 0.12)  # word height over page height: tiny, small, large, huge
MAX_CLUSTERS = 8
PAGES_PER_CLUSTER = 10  # fewer training pages than this per cluster would make clusters of one


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each signal counts; they sum to 1 so the score stays in [0, 1].

    Confidence weighs most because it is the signal that predicts a reviewer's correction best
    and exists for every model. Disagreement comes next: it separates "the data never decided
    this" from noise, but a single-network model has none. Novelty has the same weight, so that
    a batch also reaches kinds of pages the training set lacks, where every signal of doubt is
    least trustworthy (a model can be confidently wrong off its data). Margin counts least: on
    one-field pages it mostly repeats confidence."""

    confidence: float = 0.35
    margin: float = 0.15
    disagreement: float = 0.25
    novelty: float = 0.25


WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class Usefulness:
    """One page's signals and their weighted sum, ``score``."""

    confidence: float
    margin: float
    disagreement: float
    novelty: float
    score: float


def layout_embedding(words: Sequence[OcrToken], width: int, height: int) -> np.ndarray:
    """A page's layout as a short vector: where its words are (a GRID x GRID histogram of word
    centres, shares summing to 1), how tall they are (shares in ``HEIGHT_BINS``), the page's
    aspect ratio and its word count (both on log scales). Near-duplicate pages land close."""
    cells = np.zeros(GRID * GRID)
    heights = np.zeros(len(HEIGHT_BINS) + 1)
    w, h = max(width, 1), max(height, 1)
    for t in words:
        cx, cy = t.box.center
        col = min(GRID - 1, max(0, int(cx / w * GRID)))
        row = min(GRID - 1, max(0, int(cy / h * GRID)))
        cells[row * GRID + col] += 1
        heights[int(np.searchsorted(HEIGHT_BINS, t.box.height / h))] += 1
    n = max(len(words), 1)
    shape = [math.log(w / h) / 2, math.log1p(len(words)) / 5]
    return np.concatenate([cells / n, heights / n, shape])


def kmeans(x: np.ndarray, k: int, *, seed: int = 0, iterations: int = 30) -> np.ndarray:
    """Each row's cluster (k-means++ start, Lloyd's iterations); ``k`` is capped at the rows."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        d = np.min([((x - c) ** 2).sum(axis=1) for c in centres], axis=0)
        total = d.sum()
        centres.append(x[rng.choice(n, p=d / total)] if total > 0 else x[rng.integers(n)])
    c = np.array(centres)
    assign = np.zeros(n, dtype=int)
    for _ in range(iterations):
        assign = ((x[:, None, :] - c[None]) ** 2).sum(axis=2).argmin(axis=1)
        moved = np.array(
            [x[assign == j].mean(axis=0) if (assign == j).any() else c[j] for j in range(k)]
        )
        if np.allclose(moved, c):
            break
        c = moved
    return assign


@dataclass(frozen=True)
class PageClusters:
    """The training pages' layout clusters: centroids, pages per cluster, and the median
    distance of a training page to its centroid (the scale "far" is measured in).
    Empty (a model trained before it existed): every page has novelty 0."""

    centroids: list[list[float]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    scale: float = 0.0

    @classmethod
    def fit(cls, embeddings: np.ndarray, *, seed: int = 0) -> PageClusters:
        """Clusters of the training pages' embeddings, about ``PAGES_PER_CLUSTER`` pages each,
        at most ``MAX_CLUSTERS``."""
        if len(embeddings) == 0:
            return cls()
        k = max(1, min(MAX_CLUSTERS, len(embeddings) // PAGES_PER_CLUSTER))
        assign = kmeans(embeddings, k, seed=seed)
        found = sorted(set(assign.tolist()))
        centroids = np.array([embeddings[assign == j].mean(axis=0) for j in found])
        counts = [int((assign == j).sum()) for j in found]
        dists = np.linalg.norm(embeddings - centroids[np.searchsorted(found, assign)], axis=1)
        return cls(centroids.round(5).tolist(), counts, round(float(np.median(dists)), 5))

    def novelty(self, embedding: np.ndarray) -> float:
        """Half the distance to the nearest centroid (0.5 from three ``scale``s away, in
        proportion nearer), half that cluster's sparseness (a cluster with its fair share of
        training pages or more: 0; a cluster of one page among many: nearly 0.5)."""
        if not self.centroids:
            return 0.0
        c = np.asarray(self.centroids)
        d = np.linalg.norm(c - embedding, axis=1)
        j = int(d.argmin())
        far = min(1.0, float(d[j]) / (3 * self.scale)) if self.scale > 0 else float(d[j] > 0)
        fair = sum(self.counts) / len(self.counts)
        sparse = max(0.0, 1.0 - self.counts[j] / fair)
        return 0.5 * far + 0.5 * sparse

    def to_dict(self) -> dict[str, Any]:
        return {"centroids": self.centroids, "counts": self.counts, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PageClusters:
        return cls(**d) if d else cls()


def field_doubt(fields: Sequence[FieldPrediction], labels: Sequence[str]) -> tuple[float, float]:
    """(confidence, margin) signals of a page's fields, for its least certain label among
    those predicted; a page with no field at all is fully in doubt."""
    scores: dict[str, list[float]] = {}
    for f in fields:
        if f.label in labels:
            scores.setdefault(f.label, []).append(f.score)
    if not scores:
        return 1.0, 1.0
    confidence = margin = 0.0
    for found in scores.values():
        top = sorted(found, reverse=True) + [0.0]
        confidence = max(confidence, 1.0 - top[0])
        margin = max(margin, 1.0 - (top[0] - top[1]))
    return _unit(confidence), _unit(margin)


def disagreement(member_probs: np.ndarray | None) -> float:
    """Mutual information between the members' class distributions of the most disputed word
    (entropy of the mean minus mean entropy), over its bound log(min(members, classes)).
    0 with one member, no member output, or no word."""
    if member_probs is None or member_probs.ndim != 3 or member_probs.shape[1] == 0:
        return 0.0
    members, _, classes = member_probs.shape
    if members < 2:
        return 0.0
    p = np.clip(member_probs, 1e-9, 1.0)
    mean = p.mean(axis=0)
    info = -(mean * np.log(mean)).sum(axis=1) + (p * np.log(p)).sum(axis=2).mean(axis=0)
    return _unit(float(info.max()) / math.log(min(members, classes)))


def assess(
    fields: Sequence[FieldPrediction],
    labels: Sequence[str],
    member_probs: np.ndarray | None,
    embedding: np.ndarray,
    clusters: PageClusters,
    weights: Weights = WEIGHTS,
) -> Usefulness:
    """One page's signals and their ``weights``-ed score."""
    confidence, margin = field_doubt(fields, labels)
    dis = disagreement(member_probs)
    novelty = clusters.novelty(embedding)
    score = (
        weights.confidence * confidence
        + weights.margin * margin
        + weights.disagreement * dis
        + weights.novelty * novelty
    )
    return Usefulness(
        round(confidence, 4), round(margin, 4), round(dis, 4), round(novelty, 4), round(score, 4)
    )


def pick_batch(
    scores: Sequence[float], embeddings: np.ndarray, n: int, *, repeat: float = 0.5, seed: int = 0
) -> list[int]:
    """Indexes of ``n`` candidates to label next: the most useful first, greedily, where each
    earlier pick from the same layout cluster (k-means of the candidates into ``n`` clusters)
    multiplies a candidate's score by ``repeat``, so that one batch does not spend itself on
    near-duplicates of one doubtful page."""
    n = min(n, len(scores))
    if n <= 0:
        return []
    assign = kmeans(np.asarray(embeddings, dtype=float), n, seed=seed)
    base = np.asarray(scores, dtype=float)
    taken = np.zeros(assign.max() + 1, dtype=int)
    free = np.ones(len(base), dtype=bool)
    picked = []
    for _ in range(n):
        adjusted = np.where(free, base * repeat ** taken[assign], -np.inf)
        best = int(adjusted.argmax())
        picked.append(best)
        free[best] = False
        taken[assign[best]] += 1
    return picked


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))
