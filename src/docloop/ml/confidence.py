"""Confidence histograms: validation stores one per label with each version, and the drift
monitor compares served predictions' confidences with it (population stability index).

The bins are finer near 1 because a trained model's field confidences crowd there; equal-width
bins would put most fields in one bin and miss a slide from 0.99 to 0.9.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

# Inner bin edges: bins [0, 0.5), [0.5, 0.6), ..., [0.99, 1].
EDGES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)


def histogram(scores: Iterable[float], edges: Sequence[float] = EDGES) -> list[int]:
    """Counts of ``scores`` per bin (``len(edges) + 1`` bins)."""
    counts = [0] * (len(edges) + 1)
    for s in scores:
        counts[bisect.bisect_right(edges, s)] += 1
    return counts


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` against ``expected`` (counts or weights per bin):
    sum over bins of (a - e) * ln(a / e), on shares smoothed by half a count per bin so that an
    empty bin does not make it infinite. Under 0.1: stable; 0.1 to 0.25: moving; over: shifted."""
    if len(expected) != len(actual):
        raise ValueError("both histograms need the same bins")
    n_e, n_a, bins = sum(expected), sum(actual), len(expected)
    if n_e <= 0 or n_a <= 0:
        raise ValueError("a histogram is empty")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe = (e + 0.5) / (n_e + 0.5 * bins)
        pa = (a + 0.5) / (n_a + 0.5 * bins)
        total += (pa - pe) * math.log(pa / pe)
    return total
