"""Annotation quality figures: how often two reviewers agree, per label and week, and how each
reviewer works (speed, corrections, disagreements), with outliers flagged.

Agreement compares each decided second review (services/second_review.py) with the first
reviewer's approved fields, label by label:
- text agreement: of the label's fields on a page, how many texts both wrote exactly (the
  multiset intersection), over the larger of the two counts;
- box agreement: fields paired one to one at IoU >= 0.5 (greedily, best IoU first), over the
  larger count;
- Cohen's kappa of the correct/wrong marks: each field the model predicted is "correct" for a
  reviewer when their fields hold one of the same label and text at IoU >= 0.5, else "wrong";
  kappa = (p_o - p_e) / (1 - p_e), None when p_e is 1 (both marked every field alike).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from docloop.db.tables import InferenceFile, InferencePage, Model, PredictionChange, SecondReview
from docloop.domain import Box
from docloop.errors import InvalidInput
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.file_facts import aware, day_start
from docloop.services.models import load_model
from docloop.services.predictions import DONE, STRAIGHT_THROUGH
from docloop.services.review import CORRECTIONS
from docloop.services.routing import read_fields

MATCH_IOU = 0.5
# A reviewer's figure is an outlier when it is further from the reviewers' median than this many
# robust standard deviations (1.4826 x the median absolute deviation)...
OUTLIER_Z = 3.0
# ...and than this share of the median, so that near-identical reviewers flag nobody.
OUTLIER_MIN_SHARE = 0.25
# Fewer reviewers than this and there is no usual to stand out from.
OUTLIER_MIN_PEOPLE = 3
ANNOTATOR_FIGURES = (
    "files_per_hour",
    "fields_per_hour",
    "correction_rate",
    "disagreement_rate",
)
Field = dict[str, Any]
# What each figure means, for the API and the dashboard's hover texts.
DEFINITIONS = {
    "text_agreement": "Of a label's fields, the share whose text the first and the second "
    "reviewer wrote exactly alike (per page, over the larger of their two counts).",
    "box_agreement": "Of a label's fields, the share the two reviewers boxed alike: paired one "
    "to one at IoU >= 0.5, over the larger of their two counts.",
    "kappa": "Cohen's kappa of the two reviewers' correct/wrong marks of the model's fields "
    "(a field is marked correct when the reviewer kept its label and text at IoU >= 0.5): "
    "(observed - chance agreement) / (1 - chance agreement); 1 is perfect, 0 chance.",
    "files_per_hour": "Files the reviewer approved per hour of review time measured in the editor.",
    "fields_per_hour": "Fields of the files the reviewer approved per hour of review time.",
    "correction_rate": "Share of the reviewer's approved files they corrected before approving.",
    "disagreement_rate": "Share of the reviewer's second-reviewed files where the second reviewer "
    "wrote a different text or box for any field.",
}


def _box(f: Field) -> Box:
    return Box(f["xmin"], f["ymin"], f["xmax"], f["ymax"])


def _pairs(a: Sequence[Field], b: Sequence[Field]) -> int:
    """Fields of ``a`` and ``b`` paired one to one at IoU >= 0.5, best IoU first."""
    scored = sorted(
        ((_box(x).iou(_box(y)), i, j) for i, x in enumerate(a) for j, y in enumerate(b)),
        reverse=True,
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    for iou, i, j in scored:
        if iou < MATCH_IOU:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def _marks_correct(predicted: Field, fields: Iterable[Field]) -> bool:
    """Whether a reviewer kept a predicted field: same page, label and text at IoU >= 0.5."""
    return any(
        f["page"] == predicted["page"]
        and f["label"] == predicted["label"]
        and f["text"] == predicted["text"]
        and _box(f).iou(_box(predicted)) >= MATCH_IOU
        for f in fields
    )


def kappa(marks: Sequence[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' yes/no marks; None when chance agreement is total."""
    if not marks:
        return None
    n = len(marks)
    observed = sum(a == b for a, b in marks) / n
    first_yes = sum(a for a, _ in marks) / n
    second_yes = sum(b for _, b in marks) / n
    expected = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    if expected >= 1:
        return None
    return round((observed - expected) / (1 - expected), 4)


@dataclass(frozen=True, slots=True)
class LabelAgreement:
    """How two reviewers agreed on one label's fields (None: no field to compare)."""

    fields: int
    text_agreement: float | None
    box_agreement: float | None
    kappa: float | None
    marks: int


@dataclass(frozen=True, slots=True)
class WeekAgreement:
    """Agreement per label over the second reviews decided in one week (from its Monday)."""

    week: str
    labels: dict[str, LabelAgreement]


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement per label in total and per week."""

    second_reviews: int
    labels: dict[str, LabelAgreement]
    weeks: list[WeekAgreement]


@dataclass(frozen=True, slots=True)
class AnnotatorFigures:
    """One reviewer's speed, corrections and disagreements; ``outliers`` names the figures
    that stand out from the other reviewers' (filled once every reviewer's row is known)."""

    reviewer: str
    files: int
    fields: int
    review_hours: float
    files_per_hour: float | None
    fields_per_hour: float | None
    correction_rate: float
    second_reviews: int
    disagreement_rate: float | None
    outliers: list[str]


@dataclass(frozen=True, slots=True)
class QualityScope:
    """What the figures cover: a model (None: the workspace) and the dates asked for."""

    model_id: str | None
    start: str | None
    end: str | None


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Agreement, the annotator figures and the definitions of each figure."""

    scope: QualityScope
    agreement: Agreement
    annotators: list[AnnotatorFigures]
    definitions: dict[str, str]


class _Tally:
    """Counts of one label over a set of second reviews."""

    def __init__(self) -> None:
        self.compared = 0
        self.same_text = 0
        self.same_box = 0
        self.marks: list[tuple[bool, bool]] = []

    def figures(self) -> LabelAgreement:
        return LabelAgreement(
            fields=self.compared,
            text_agreement=round(self.same_text / self.compared, 4) if self.compared else None,
            box_agreement=round(self.same_box / self.compared, 4) if self.compared else None,
            kappa=kappa(self.marks),
            marks=len(self.marks),
        )


def compare(
    shown: Sequence[Field],
    first: Sequence[Field],
    second: Sequence[Field],
    tallies: dict[str, _Tally],
) -> bool:
    """Add one second review to ``tallies`` (label -> _Tally); True when the two reviewers
    disagreed on anything."""
    keys = {(f["page"], f["label"]) for f in [*first, *second, *shown]}
    disagreed = False
    for page, label in sorted(keys):
        a = [f for f in first if (f["page"], f["label"]) == (page, label)]
        b = [f for f in second if (f["page"], f["label"]) == (page, label)]
        t = tallies.setdefault(label, _Tally())
        larger = max(len(a), len(b))
        texts = sum((Counter(f["text"] for f in a) & Counter(f["text"] for f in b)).values())
        boxes = _pairs(a, b)
        t.compared += larger
        t.same_text += texts
        t.same_box += boxes
        disagreed |= texts < larger or boxes < larger
        for p in shown:
            if (p["page"], p["label"]) == (page, label):
                t.marks.append((_marks_correct(p, a), _marks_correct(p, b)))
    return disagreed


def _week(d: datetime) -> str:
    day = aware(d).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def _scope(ctx: AppContext, who: Principal, model_id: str | None) -> list[str]:
    with ctx.session() as s:
        if model_id:
            return [load_model(s, who, model_id).id]
        return list(s.scalars(select(Model.id).where(Model.workspace_id == who.workspace_id)))


def compute(
    ctx: AppContext,
    who: Principal,
    *,
    model_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> QualityReport:
    """Agreement per label (total and per week) and the annotator figures, for a workspace or
    one model, over files approved (and second reviews decided) from ``start`` to ``end``."""
    if start and end and start > end:
        raise InvalidInput("the start date is after the end date")
    model_ids = _scope(ctx, who, model_id)
    low = day_start(start) if start else None
    high = day_start(end + timedelta(days=1)) if end else None

    def within(at: datetime | None) -> bool:
        return (
            at is not None
            and (low is None or aware(at) >= low)
            and (high is None or aware(at) < high)
        )

    with ctx.session() as s:
        reviews = [
            r
            for r in s.scalars(
                select(SecondReview).where(
                    SecondReview.model_id.in_(model_ids), SecondReview.decided_at.is_not(None)
                )
            )
            if within(r.decided_at)
        ]
        # Files as a subquery, not a list of ids: a list can exceed SQLite's bound parameters.
        by_people = select(InferenceFile.id).where(
            InferenceFile.model_id.in_(model_ids),
            InferenceFile.status == DONE,
            InferenceFile.moderated.is_(True),
            InferenceFile.moderated_by != STRAIGHT_THROUGH,
        )
        approved = [
            f
            for f in s.scalars(select(InferenceFile).where(InferenceFile.id.in_(by_people)))
            if within(f.moderated_at)
        ]
        by_file = {f.id: f for f in approved}
        thresholds = dict(
            s.execute(select(Model.id, Model.review_threshold).where(Model.id.in_(model_ids))).all()
        )
        fields = Counter[str]()
        for page in s.scalars(select(InferencePage).where(InferencePage.file_id.in_(by_people))):
            if page.file_id in by_file:
                model = by_file[page.file_id].model_id
                fields[page.file_id] += len(read_fields(page.predictions, thresholds.get(model)))
        corrected = {
            (file_id, by)
            for file_id, by in s.execute(
                select(PredictionChange.file_id, PredictionChange.by).where(
                    PredictionChange.file_id.in_(by_people),
                    PredictionChange.action.in_(CORRECTIONS),
                )
            )
        }
    totals: dict[str, _Tally] = {}
    weekly: dict[str, dict[str, _Tally]] = defaultdict(dict)
    disagreed: Counter[str] = Counter()
    decided: Counter[str] = Counter()
    for r in reviews:
        second = r.second or []
        compare(r.shown, r.first, second, weekly[_week(r.decided_at)])  # type: ignore[arg-type]
        decided[r.first_reviewer] += 1
        disagreed[r.first_reviewer] += compare(r.shown, r.first, second, totals)
    return QualityReport(
        scope=QualityScope(
            model_id=model_id,
            start=start and start.isoformat(),
            end=end and end.isoformat(),
        ),
        agreement=Agreement(
            second_reviews=len(reviews),
            labels={k: t.figures() for k, t in sorted(totals.items())},
            weeks=[
                WeekAgreement(w, {k: t.figures() for k, t in sorted(weekly[w].items())})
                for w in sorted(weekly)
            ],
        ),
        annotators=annotators(approved, fields, corrected, decided, disagreed),
        definitions=DEFINITIONS,
    )


def annotators(
    approved: Sequence[InferenceFile],
    fields: Counter[str],
    corrected: set[tuple[str, str]],
    decided: Counter[str],
    disagreed: Counter[str],
) -> list[AnnotatorFigures]:
    """Per reviewer: files and fields per hour of measured review time, the share of their
    approved files they corrected, the share of their second-reviewed files where the second
    reviewer disagreed, and which of these figures stand out from the other reviewers'."""
    people: dict[str, list[InferenceFile]] = defaultdict(list)
    for f in approved:
        people[f.moderated_by or ""].append(f)
    rows = []
    for who, files in sorted(people.items()):
        seconds = sum(f.review_seconds or 0.0 for f in files)
        hours = seconds / 3600
        n_fields = sum(fields[f.id] for f in files)
        rows.append(AnnotatorFigures(
            reviewer=who,
            files=len(files),
            fields=n_fields,
            review_hours=round(hours, 3),
            files_per_hour=round(len(files) / hours, 2) if hours else None,
            fields_per_hour=round(n_fields / hours, 2) if hours else None,
            correction_rate=round(sum((f.id, who) in corrected for f in files) / len(files), 4),
            second_reviews=decided[who],
            disagreement_rate=round(disagreed[who] / decided[who], 4) if decided[who] else None,
            outliers=[],
        ))  # fmt: skip
    for name in ANNOTATOR_FIGURES:
        for row, high in outliers([getattr(r, name) for r in rows]).items():
            rows[row].outliers.append(f"{name} {'high' if high else 'low'}")
    return rows


def outliers(values: Sequence[float | None]) -> dict[int, bool]:
    """Indexes of values far from the others' median (robust z-score), each with whether it
    is high; needs ``OUTLIER_MIN_PEOPLE`` values."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < OUTLIER_MIN_PEOPLE:
        return {}
    median = statistics.median(v for _, v in known)
    spread = 1.4826 * statistics.median(abs(v - median) for _, v in known)
    return {
        i: v > median
        for i, v in known
        if abs(v - median) > max(OUTLIER_Z * spread, OUTLIER_MIN_SHARE * abs(median), 1e-9)
    }
