"""Drift and health figures of a model over a span of predictions: how far the confidence of
each label's fields has moved from what validation saw (PSI), the share of files with a
low-confidence field, the share of reviewed files a reviewer corrected, and prediction time.

Each file is compared with the validation of the version that predicted it: when a span mixes
versions, the expected histogram is their validation histograms weighted by how many of the
label's fields each version predicted in the span.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import ModelVersion
from docloop.ml import confidence
from docloop.services.file_facts import FileFacts

# version id -> label -> validation confidence counts (on ``confidence.EDGES``)
References = dict[str, dict[str, list[int]]]


@dataclass(frozen=True, slots=True)
class DriftFigures:
    """The monitored figures of one span; None where there is nothing to measure."""

    files: int
    psi: dict[str, float | None] = field(default_factory=dict)
    low_confidence_share: float | None = None
    correction_rate: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None


def references(session: Session, model_ids: list[str]) -> References:
    """Each version's validation confidence histograms (versions trained before they were
    kept, or on other bins, have none)."""
    out: References = {}
    rows = session.execute(
        select(ModelVersion.id, ModelVersion.metrics).where(ModelVersion.model_id.in_(model_ids))
    ).all()
    for version_id, metrics in rows:
        found = (metrics or {}).get("val_confidence") or {}
        if list(found.get("edges", [])) == list(confidence.EDGES):
            out[version_id] = {k: list(v) for k, v in found.get("counts", {}).items()}
    return out


def figures(
    facts: list[FileFacts], refs: References, *, low_confidence: float, min_fields: int
) -> DriftFigures:
    """The span's figures; a label's PSI needs ``min_fields`` fields on both sides."""
    if not facts:
        return DriftFigures(files=0)
    low = sum(any(s < low_confidence for v in f.scores.values() for s in v) for f in facts)
    reviewed = [f for f in facts if f.reviewed]
    times = sorted(f.predict_seconds for f in facts if f.predict_seconds is not None)
    return DriftFigures(
        files=len(facts),
        psi=_psi_by_label(facts, refs, min_fields),
        low_confidence_share=round(low / len(facts), 4),
        correction_rate=(
            round(sum(f.corrected for f in reviewed) / len(reviewed), 4) if reviewed else None
        ),
        latency_p50_s=_quantile(times, 0.5),
        latency_p95_s=_quantile(times, 0.95),
    )


def _psi_by_label(
    facts: list[FileFacts], refs: References, min_fields: int
) -> dict[str, float | None]:
    actual: dict[str, list[float]] = defaultdict(list)
    expected: dict[str, list[float]] = {}
    for f in facts:
        ref = refs.get(f.version_id or "", {})
        for label, scores in f.scores.items():
            counts = ref.get(label)
            if not counts or sum(counts) < min_fields:
                actual.setdefault(label, [])  # listed, without a reference to compare with
                continue
            actual[label].extend(scores)
            total = sum(counts)
            weights = expected.setdefault(label, [0.0] * len(counts))
            for i, c in enumerate(counts):  # this file's share of the expected distribution
                weights[i] += len(scores) * c / total
    out: dict[str, float | None] = {}
    for label, scores in sorted(actual.items()):
        weights = expected.get(label)
        if weights is None or len(scores) < min_fields:
            out[label] = None
            continue
        out[label] = round(confidence.psi(weights, confidence.histogram(scores)), 4)
    return out


def _quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank quantile of sorted ``values``."""
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 1))
    return round(values[int(rank) - 1], 4)
