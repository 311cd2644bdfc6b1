"""The ROI and KPI dashboard (``/dashboard``): the figures of ``GET /api/v1/kpis`` as server-side
SVG charts, per workspace or per model and date range, each explained on hover and
downloadable as CSV."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from docloop.api.deps import CtxDep
from docloop.errors import DocloopError
from docloop.services import kpis, models, quality
from docloop.web import quality_section
from docloop.web.charts import Series, chart
from docloop.web.routes import Reviewing, _page

router = APIRouter(include_in_schema=False)

# (figure, bars, percent) of the weekly charts, in the order shown
WEEKLY = (
    ("processed", True, False),
    ("automation_rate", False, True),
    ("straight_through_rate", False, True),
    ("fields_corrected_per_100", False, False),
    ("label_accuracy", False, True),
    ("review_seconds_per_file", False, False),
    ("time_saved_hours", True, False),
    ("cost_per_document", False, False),
    ("money_saved_to_date", False, False),
)
MONITORED = (
    ("psi", False),
    ("low_confidence_share", True),
    ("correction_rate", True),
    ("latency_p95_s", False),
)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    ctx: CtxDep,
    signed: Reviewing,
    model_id: str = "",
    start: date | None = None,
    end: date | None = None,
) -> HTMLResponse:
    found = await run_in_threadpool(models.list_models, ctx, signed.principal)
    error, figures, agreement = "", None, None
    try:
        figures = await run_in_threadpool(
            lambda: kpis.compute(
                ctx, signed.principal, model_id=model_id or None, start=start, end=end
            )
        )
        # Over the same weeks as the KPI charts (kpis widens the range to whole weeks).
        agreement = await run_in_threadpool(
            lambda: quality.compute(
                ctx,
                signed.principal,
                model_id=model_id or None,
                start=date.fromisoformat(figures.start),
                end=date.fromisoformat(figures.end),
            )  # fmt: skip
        )
    except DocloopError as exc:
        error = exc.message
    query = {k: v for k, v in {"model_id": model_id, "start": start, "end": end}.items() if v}
    return _page(
        request, "dashboard.html", signed, models=found, model_id=model_id, figures=figures,
        charts=charts(figures) if figures else {}, error=error, quality=agreement,
        quality_charts=quality_section.charts(agreement) if agreement else {},
        csv={t: "/api/v1/kpis?" + urlencode({**query, "format": "csv", "table": t})
             for t in kpis.TABLES},
    )  # fmt: skip


def charts(figures: kpis.KpiReport) -> dict[str, Markup]:
    """Every chart of the page, by figure name."""
    weeks = figures.weeks
    periods = [w.week or "" for w in weeks]
    titles = {k: v["title"] for k, v in figures.definitions.items()}
    how = {k: v["how"] for k, v in figures.definitions.items()}
    out: dict[str, Markup] = {}
    for name, bars, percent in WEEKLY:
        if name == "label_accuracy":
            series = _by_key([w.label_accuracy for w in weeks])
        elif name == "cost_per_document":
            series = [
                Series("with docloop", [w.cost_per_document for w in weeks]),
                Series("by hand", [w.manual_cost_per_document for w in weeks]),
            ]
        else:
            series = [Series(titles[name], [getattr(w, name) for w in weeks])]
        out[name] = chart(name, how[name], periods, series, bars=bars, percent=percent)
    monitored = [w.monitoring for w in weeks if w.monitoring is not None]
    if figures.scope.model_id:
        for name, percent in MONITORED:
            if name == "psi":
                series = _by_key([m.psi for m in monitored])
            else:
                series = [Series(titles[name], [getattr(m, name) for m in monitored])]
            out[name] = chart(name, how[name], periods, series, percent=percent)
    months = figures.delivery.months
    out["models_delivered"] = chart(
        "models_delivered", how["models_delivered"], [m.month for m in months],
        [Series("models delivered", [m.models_delivered for m in months])], bars=True,
    )  # fmt: skip
    return out


def _by_key(per_week: list[dict[str, float | None]]) -> list[Series]:
    """One series per key of a per-week mapping (per label)."""
    keys = sorted({k for w in per_week for k in w})
    return [Series(k, [w.get(k) for w in per_week]) for k in keys]
