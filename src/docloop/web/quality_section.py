"""The annotation-quality section of the dashboard: agreement per label week by week as
server-side SVG charts (``web/charts.py``), from the figures of ``GET /api/v1/quality``."""

from __future__ import annotations

from markupsafe import Markup

from docloop.services.quality import LabelAgreement, QualityReport
from docloop.web.charts import Series, chart

# (figure, percent) of the agreement charts, in the order shown
AGREEMENT = (("text_agreement", True), ("box_agreement", True), ("kappa", False))


def charts(figures: QualityReport) -> dict[str, Markup]:
    """One chart per agreement figure, one series per label (a gap where a week lacks it)."""
    weeks = figures.agreement.weeks
    periods = [w.week for w in weeks]
    labels = sorted({k for w in weeks for k in w.labels})
    return {
        name: chart(
            name,
            figures.definitions[name],
            periods,
            [Series(k, [_figure(w.labels.get(k), name) for w in weeks]) for k in labels],
            percent=percent,
        )  # fmt: skip
        for name, percent in AGREEMENT
    }


def _figure(found: LabelAgreement | None, name: str) -> float | None:
    return getattr(found, name) if found else None
