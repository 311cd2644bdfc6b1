"""The active-learning order (``ml/usefulness.py``) on synthetic pages and predictions."""

from __future__ import annotations

import numpy as np

from docloop.domain import Box, FieldPrediction, OcrToken
from docloop.ml.usefulness import (
    PageClusters,
    assess,
    disagreement,
    field_doubt,
    kmeans,
    layout_embedding,
    pick_batch,
)

LABELS = ["number_plate"]


def _field(score: float, label: str = "number_plate") -> FieldPrediction:
    return FieldPrediction(label, Box(10, 10, 60, 30), "MH12AB1234", score)


def _words(boxes: list[tuple[float, float, float, float]]) -> list[OcrToken]:
    return [OcrToken(f"W{n}", Box(*b), 1.0, n) for n, b in enumerate(boxes)]


def test_an_uncertain_page_ranks_above_a_confident_one() -> None:
    embedding = np.zeros(3)
    clusters = PageClusters([[0.0, 0.0, 0.0]], [20], 0.1)
    confident = assess([_field(0.98)], LABELS, None, embedding, clusters)
    doubtful = assess([_field(0.55), _field(0.5)], LABELS, None, embedding, clusters)
    empty = assess([], LABELS, None, embedding, clusters)
    assert doubtful.score > confident.score
    assert doubtful.margin > confident.margin and doubtful.confidence > confident.confidence
    assert empty.confidence == 1.0 and empty.score > confident.score


def test_members_that_disagree_raise_the_score_where_their_mean_cannot_tell() -> None:
    """Both pages' mean probability of the word being a plate is 0.5; on one the members are
    each unsure, on the other each is sure and they differ: only that one is disagreement."""
    unsure = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])
    split = np.array([[[0.99, 0.01]], [[0.01, 0.99]]])
    assert disagreement(unsure) < 0.01
    assert disagreement(split) > 0.9
    assert disagreement(split[:1]) == 0.0 and disagreement(None) == 0.0
    clusters = PageClusters()
    calm = assess([_field(0.8)], LABELS, unsure, np.zeros(3), clusters)
    torn = assess([_field(0.8)], LABELS, split, np.zeros(3), clusters)
    assert torn.score > calm.score


def test_a_page_unlike_the_training_clusters_is_novel() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(0, 0.01, (40, 2))
    rare = rng.normal(0, 0.01, (4, 2)) + [1.0, 0.0]
    clusters = PageClusters.fit(np.concatenate([common, rare]))
    assert len(clusters.centroids) == 4 and sum(clusters.counts) == 44
    near = clusters.novelty(np.array([0.0, 0.0]))
    sparse = clusters.novelty(np.array([1.0, 0.0]))
    away = clusters.novelty(np.array([0.0, 5.0]))
    assert near < sparse < away
    assert PageClusters().novelty(np.array([0.0, 5.0])) == 0.0
    assert PageClusters.from_dict(clusters.to_dict()) == clusters


def test_field_doubt_takes_the_least_certain_label() -> None:
    fields = [_field(0.99, "date"), _field(0.6, "total"), _field(0.2, "total"), _field(0.9, "x")]
    confidence, margin = field_doubt(fields, ["date", "total"])
    assert round(confidence, 4) == 0.4 and round(margin, 4) == 0.6


def test_a_batch_spreads_over_clusters_rather_than_near_duplicates() -> None:
    """Ten near-duplicates of one doubtful page and five other kinds of page, a little less
    doubtful: a batch of five takes one or two of the duplicates, not five."""
    rng = np.random.default_rng(1)
    duplicates = rng.normal(0, 0.001, (10, 2))
    others = np.array([[1.0, 0], [0, 1.0], [1.0, 1.0], [2.0, 0], [0, 2.0]])
    scores = [0.9] * 10 + [0.6] * 5
    picked = pick_batch(scores, np.concatenate([duplicates, others]), 5)
    assert len(set(picked)) == 5
    assert picked[0] < 10  # the most useful page still comes first
    assert sum(i < 10 for i in picked) <= 2
    # Without the spreading, the greedy order would take five duplicates.
    assert sum(i < 10 for i in pick_batch(scores, np.zeros((15, 2)), 5, repeat=1.0)) == 5


def test_kmeans_separates_clear_groups_and_caps_k_at_the_rows() -> None:
    x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    assign = kmeans(x, 2)
    assert assign[0] == assign[1] != assign[2] == assign[3]
    assert len(kmeans(x[:1], 3)) == 1


def test_layout_embedding_tells_a_close_up_from_a_wide_shot() -> None:
    close = layout_embedding(_words([(10, 40, 90, 60), (10, 62, 90, 80)]), 100, 100)
    wide = layout_embedding(_words([(5, 5, 8, 7), (90, 90, 93, 92), (50, 80, 52, 81)]), 100, 100)
    again = layout_embedding(_words([(11, 40, 91, 60), (10, 63, 90, 80)]), 100, 100)
    assert np.linalg.norm(close - again) < np.linalg.norm(close - wide)
    assert layout_embedding([], 100, 50).shape == close.shape
