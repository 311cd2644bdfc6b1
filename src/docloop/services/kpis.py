"""The ROI and KPI figures of a workspace or a model, week by week: automation, corrections,
per-label accuracy as reviewers judged it, time and money saved, and the delivery figures
(models delivered, time to a served and to a better version). ``FIGURES`` says how each is
computed; the API, the CSV files and the dashboard's hover texts all read it from there.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.config import Settings
from docloop.db.tables import Model, ModelVersion, ProductionChange, TrainingRun, utcnow
from docloop.errors import InvalidInput
from docloop.services import drift, file_facts
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.file_facts import FileFacts, aware, day_start
from docloop.services.model_versions import validation_score
from docloop.services.models import load_model
from docloop.views import optional

DEFAULT_WEEKS = 12
MAX_WEEKS = 260

# name -> (title, how it is computed)
FIGURES: dict[str, tuple[str, str]] = {
    "processed": ("Files processed", "Files predicted (finished) in the week."),
    "approved": (
        "Files approved",
        "Files of the week approved, by a reviewer or straight through.",
    ),
    "automation_rate": (
        "Automation rate",
        "Files approved with no correction logged by a reviewer / files processed.",
    ),
    "straight_through_rate": (
        "Straight-through rate",
        "Files approved by the routing rules with no reviewer / files processed.",
    ),
    "fields_corrected_per_100": (
        "Fields corrected per 100 files",
        "100 x (predicted fields a reviewer changed or removed + fields a reviewer added) / "
        "files processed.",
    ),
    "label_accuracy": (
        "Per-label accuracy (reviewed)",
        "In files a person approved: predicted fields of the label left unchanged (label, text "
        "and box) / (predicted fields of the label + fields of the label the reviewer added).",
    ),
    "review_seconds_per_file": (
        "Review seconds per file",
        "Mean seconds from opening a file in the editor to approving it, over files with a "
        "measured review.",
    ),
    "time_saved_hours": (
        "Time saved (hours)",
        "Over approved files with a known review time (timed in the editor, or 0 straight "
        "through): fields x manual seconds per field - review seconds, in hours.",
    ),
    "cost_per_document": (
        "Cost per document",
        "(seconds of OCR and inference x CPU-hour cost + review seconds x reviewer hour cost) "
        "/ files processed.",
    ),
    "manual_cost_per_document": (
        "Manual cost per document",
        "The configured cost of processing one document by hand.",
    ),
    "training_cost": (
        "Training cost",
        "Estimated cost of the trainings that ended in the week (CPU or GPU hours x hour cost).",
    ),
    "money_saved": (
        "Money saved",
        "Approved files x manual cost per document - machine and review cost of the week's "
        "files - training cost.",
    ),
    "money_saved_to_date": (
        "Money saved to date",
        "The running sum of money saved, from the first week shown.",
    ),
    "models_delivered": (
        "Models delivered",
        "Models whose first version went into production in the month.",
    ),
    "hours_to_first_version": (
        "Hours to first served version",
        "From the model's creation to its first version in production (median over models).",
    ),
    "hours_to_better_version": (
        "Hours to a better version",
        "From the model's creation to the first version whose validation score beat every "
        "earlier version's (median over models that have one).",
    ),
    "production_share": (
        "Share of models in production",
        "Models that ever served a version / models created.",
    ),
    "psi": (
        "Confidence drift (PSI)",
        "Population stability index of the week's field confidences per label against the "
        "validation of the version that predicted them; over 0.25 means shifted.",
    ),
    "low_confidence_share": (
        "Files with a low-confidence field",
        "Files with any predicted field under the low-confidence setting / files processed.",
    ),
    "correction_rate": (
        "Correction rate",
        "Files a person approved with a logged correction / files a person approved.",
    ),
    "latency_p95_s": (
        "Prediction seconds (p95)",
        "95th percentile of the OCR and inference seconds per file.",
    ),
}

WEEK_COLUMNS = (
    "processed", "approved", "automation_rate", "straight_through_rate",
    "fields_corrected_per_100", "review_seconds_per_file", "time_saved_hours",
    "cost_per_document", "manual_cost_per_document", "training_cost", "money_saved",
    "money_saved_to_date",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Span:
    """Whole weeks, Monday to Sunday, from the week of ``start`` to the week of ``end``."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None) -> Span:
        end = end or utcnow().date()
        start = start or end - timedelta(weeks=DEFAULT_WEEKS - 1)
        if start > end:
            raise InvalidInput("the start date is after the end date")
        span = cls(monday(start), monday(end) + timedelta(days=6))
        if len(span.weeks()) > MAX_WEEKS:
            raise InvalidInput(f"the range covers more than {MAX_WEEKS} weeks")
        return span

    def weeks(self) -> list[date]:
        count = (self.end - self.start).days // 7 + 1
        return [self.start + timedelta(weeks=i) for i in range(count)]

    @property
    def begins(self) -> datetime:
        return day_start(self.start)

    @property
    def ends(self) -> datetime:
        return day_start(self.end + timedelta(days=1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One week's figures, or (without ``week``, the manual cost, the running total and the
    drift figures, which are None) the totals of the range."""

    week: str | None = optional()
    processed: int
    approved: int
    automation_rate: float | None
    straight_through_rate: float | None
    fields_corrected_per_100: float | None
    review_seconds_per_file: float | None
    time_saved_hours: float
    cost_per_document: float | None
    manual_cost_per_document: float | None = optional()
    training_cost: float
    money_saved: float
    label_accuracy: dict[str, float | None]
    money_saved_to_date: float | None = optional()
    monitoring: drift.DriftFigures | None = optional()


@dataclass(frozen=True, slots=True)
class ModelRef:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class KpiScope:
    """The workspace, the model when one was asked for, and the models the figures cover."""

    workspace_id: str
    model_id: str | None
    models: list[ModelRef]


@dataclass(frozen=True, slots=True)
class Rates:
    """The costs and times the figures assume (from the settings)."""

    manual_seconds_per_field: float
    reviewer_hour_cost: float
    manual_document_cost: float
    cpu_hour_cost: float
    gpu_hour_cost: float


@dataclass(frozen=True, slots=True)
class MonthDelivered:
    month: str
    models_delivered: int


@dataclass(frozen=True, slots=True)
class ModelDelivery:
    """How long one model took to be served and to improve (None: not yet)."""

    model_id: str
    name: str
    created_at: str
    first_served_at: str | None
    hours_to_first_version: float | None
    hours_to_better_version: float | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """Models delivered per month, and the median times to a served and a better version."""

    models_created: int
    models_in_production: int
    production_share: float | None
    hours_to_first_version: float | None
    hours_to_better_version: float | None
    months: list[MonthDelivered]
    models: list[ModelDelivery]


@dataclass(frozen=True, slots=True)
class KpiReport:
    """ROI and KPI figures per week, their totals, delivery figures and their definitions."""

    scope: KpiScope
    start: str
    end: str
    rates: Rates
    totals: Figures
    weeks: list[Figures]
    delivery: Delivery
    definitions: dict[str, dict[str, str]]


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def compute(
    ctx: AppContext,
    who: Principal,
    *,
    model_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> KpiReport:
    """Every figure of ``FIGURES`` for the caller's workspace, or one of its models, per week
    (delivery figures per month and in total); the drift figures only for one model."""
    span = Span.of(start, end)
    with ctx.session() as s:
        if model_id:
            models = [load_model(s, who, model_id)]
        else:
            models = list(
                s.scalars(select(Model).where(Model.workspace_id == who.workspace_id)).all()
            )
        facts = file_facts.load(s, models, span.begins, span.ends)
        ids = [m.id for m in models]
        costs = _training_costs(s, ids, span)
        delivery = _delivery(s, models)
        refs = drift.references(s, ids) if model_id else {}
    by_week: dict[date, list[FileFacts]] = defaultdict(list)
    for f in facts:
        by_week[monday(f.created_at.date())].append(f)
    weeks: list[Figures] = []
    to_date = 0.0
    for week in span.weeks():
        row = _week(by_week[week], ctx.settings, costs.get(week, 0.0))
        to_date += row.money_saved
        monitored = drift.figures(
            by_week[week], refs, low_confidence=ctx.settings.low_confidence,
            min_fields=ctx.settings.drift_min_fields,
        ) if model_id else None  # fmt: skip
        weeks.append(replace(row, week=week.isoformat(), money_saved_to_date=round(to_date, 2),
                             monitoring=monitored))  # fmt: skip
    settings = ctx.settings
    return KpiReport(
        scope=KpiScope(who.workspace_id, model_id, [ModelRef(m.id, m.name) for m in models]),
        start=span.start.isoformat(),
        end=span.end.isoformat(),
        rates=Rates(
            manual_seconds_per_field=settings.manual_seconds_per_field,
            reviewer_hour_cost=settings.reviewer_hour_cost,
            manual_document_cost=settings.manual_document_cost,
            cpu_hour_cost=settings.cpu_hour_cost,
            gpu_hour_cost=settings.gpu_hour_cost,
        ),
        totals=_totals(weeks, facts, settings),
        weeks=weeks,
        delivery=delivery,
        definitions={k: {"title": t, "how": h} for k, (t, h) in FIGURES.items()},
    )


def _week(facts: list[FileFacts], settings: Settings, training_cost: float) -> Figures:
    n = len(facts)
    approved = [f for f in facts if f.approved]
    timed = [f for f in facts if f.reviewed and f.review_seconds is not None]
    known = [f for f in approved if f.straight_through] + timed
    saved = sum(f.fields * settings.manual_seconds_per_field - (f.review_seconds or 0.0)
                for f in known)  # fmt: skip
    machine = sum(f.predict_seconds or 0.0 for f in facts) / 3600 * settings.cpu_hour_cost
    review = sum(f.review_seconds or 0.0 for f in facts) / 3600 * settings.reviewer_hour_cost
    judged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in facts:
        for label, (total, right) in f.judged.items():
            judged[label][0] += total
            judged[label][1] += right
    money = len(approved) * settings.manual_document_cost - machine - review - training_cost
    return Figures(
        processed=n,
        approved=len(approved),
        automation_rate=_ratio(sum(f.approved and not f.corrected for f in facts), n),
        straight_through_rate=_ratio(sum(f.straight_through for f in facts), n),
        fields_corrected_per_100=(
            round(100 * sum(f.fields_corrected for f in facts) / n, 2) if n else None
        ),
        review_seconds_per_file=(
            round(sum(f.review_seconds or 0.0 for f in timed) / len(timed), 1) if timed else None
        ),
        time_saved_hours=round(saved / 3600, 3),
        cost_per_document=round((machine + review) / n, 4) if n else None,
        manual_cost_per_document=settings.manual_document_cost,
        training_cost=round(training_cost, 4),
        money_saved=round(money, 2),
        label_accuracy={k: _ratio(v[1], v[0]) for k, v in sorted(judged.items())},
    )


def _totals(weeks: list[Figures], facts: list[FileFacts], settings: Settings) -> Figures:
    whole = _week(facts, settings, sum(w.training_cost for w in weeks))
    return replace(whole, manual_cost_per_document=None)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _training_costs(session: Session, model_ids: list[str], span: Span) -> dict[date, float]:
    """Per week, the estimated cost of the trainings that ended in it."""
    out: dict[date, float] = defaultdict(float)
    for finished, report in session.execute(
        select(TrainingRun.finished_at, TrainingRun.report).where(
            TrainingRun.model_id.in_(model_ids),
            TrainingRun.finished_at >= span.begins,
            TrainingRun.finished_at < span.ends,
        )
    ):
        cost = ((report or {}).get("cost") or {}).get("cost_estimate")
        if cost is not None:
            out[monday(aware(finished).date())] += float(cost)
    return out


def _delivery(session: Session, models: list[Model]) -> Delivery:
    """Models delivered per month, and how long each model took to serve and to improve."""
    ids = [m.id for m in models]
    first_served: dict[str, datetime] = {}
    for model_id, at in session.execute(
        select(ProductionChange.model_id, ProductionChange.at)
        .where(ProductionChange.model_id.in_(ids))
        .order_by(ProductionChange.id)
    ):
        first_served.setdefault(model_id, aware(at))
    versions: dict[str, list[ModelVersion]] = defaultdict(list)
    for v in session.scalars(
        select(ModelVersion).where(ModelVersion.model_id.in_(ids)).order_by(ModelVersion.number)
    ):
        versions[v.model_id].append(v)
    per_model: list[ModelDelivery] = []
    months: Counter[str] = Counter()
    for m in models:
        created = aware(m.created_at)
        served = first_served.get(m.id)
        better = _first_better(versions[m.id])
        if served:
            months[served.strftime("%Y-%m")] += 1
        per_model.append(ModelDelivery(
            model_id=m.id, name=m.name, created_at=created.isoformat(),
            first_served_at=served.isoformat() if served else None,
            hours_to_first_version=_hours(created, served),
            hours_to_better_version=_hours(created, better),
        ))  # fmt: skip

    def median(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(statistics.median(known), 2) if known else None

    return Delivery(
        models_created=len(models),
        models_in_production=len(first_served),
        production_share=_ratio(len(first_served), len(models)),
        hours_to_first_version=median([p.hours_to_first_version for p in per_model]),
        hours_to_better_version=median([p.hours_to_better_version for p in per_model]),
        months=[MonthDelivered(k, n) for k, n in sorted(months.items())],
        models=per_model,
    )


def _first_better(versions: list[ModelVersion]) -> datetime | None:
    """When the first version whose validation score beat every earlier version's was made."""
    best: float | None = None
    for v in versions:
        score = validation_score(v.metrics or {})
        if score is None:
            continue
        if best is not None and score > best:
            return aware(v.created_at)
        best = score if best is None else max(best, score)
    return None


def _hours(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 3600, 2) if end else None


TABLES = ("weeks", "labels", "monitoring", "months", "models")


def to_csv(figures: KpiReport, table: str) -> str:
    """One table of ``compute``'s result as CSV: the weekly figures, per-label accuracy per
    week, the weekly drift figures (one model), delivery per month, or delivery per model."""
    if table not in TABLES:
        raise InvalidInput(f"table must be one of {', '.join(TABLES)}")
    out = io.StringIO()
    w = csv.writer(out)
    weeks = figures.weeks
    if table == "weeks":
        w.writerow(["week", *WEEK_COLUMNS])
        w.writerows([[x.week, *(_cell(getattr(x, c)) for c in WEEK_COLUMNS)] for x in weeks])
    elif table == "labels":
        labels = sorted({k for x in weeks for k in x.label_accuracy})
        w.writerow(["week", *labels])
        w.writerows([[x.week, *(_cell(x.label_accuracy.get(k)) for k in labels)]
                     for x in weeks])  # fmt: skip
    elif table == "monitoring":
        if figures.scope.model_id is None:
            raise InvalidInput("the monitoring table is per model: give model_id")
        monitored = [(x.week, x.monitoring) for x in weeks if x.monitoring is not None]
        labels = sorted({k for _, m in monitored for k in m.psi})
        cols = ["files", "low_confidence_share", "correction_rate", "latency_p50_s",
                "latency_p95_s"]  # fmt: skip
        w.writerow(["week", *cols, *(f"psi.{k}" for k in labels)])
        for week, m in monitored:
            w.writerow([week, *(_cell(getattr(m, c)) for c in cols),
                        *(_cell(m.psi.get(k)) for k in labels)])  # fmt: skip
    elif table == "months":
        w.writerow(["month", "models_delivered"])
        w.writerows([[x.month, x.models_delivered] for x in figures.delivery.months])
    else:
        cols = ["model_id", "name", "created_at", "first_served_at", "hours_to_first_version",
                "hours_to_better_version"]  # fmt: skip
        w.writerow(cols)
        w.writerows([[_cell(getattr(m, c)) for c in cols] for m in figures.delivery.models])
    return out.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value
