"""Training runs as users read them: our record (steps, validation report, outcome) joined with
the MLflow run (parameters, figures, environment, artifacts)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import ModelVersion, TrainingRun
from docloop.errors import InvalidInput, NotFound
from docloop.services import tracking
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model
from docloop.views import optional

# Figures shown in lists and comparisons, in this order, when the run has them.
SUMMARY_METRICS = ("val_text_accuracy", "wall_seconds", "cpu_seconds", "cost_estimate")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """Our record of a training: outcome, the version it made, the steps it reused."""

    id: str
    model_id: str
    status: str
    started_at: str
    finished_at: str | None
    dataset_version_id: str | None
    model_version: int | None
    promoted: bool | None
    promotion: Any
    error: str | None
    mlflow_run_id: str | None
    cached_steps: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary(RunRecord):
    """A training in a list: its record and headline figures (none when it was not tracked)."""

    metrics: dict[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDetail(RunRecord):
    """Everything recorded about a training; the MLflow fields stay None when untracked."""

    report: dict[str, Any] | None
    steps: list[dict[str, Any]]
    params: dict[str, str] | None = optional()
    metrics: dict[str, float] | None = optional()
    tags: dict[str, str] | None = optional()
    datasets: list[dict[str, Any]] | None = optional()
    artifact_uri: str | None = optional()
    artifacts: list[str] | None = optional()
    tracking_uri: str | None = optional()


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Parameters and final figures side by side, one value per run."""

    runs: list[str]
    params: dict[str, list[Any]]
    metrics: dict[str, list[Any]]
    differs: list[str]


def list_runs(ctx: AppContext, who: Principal, model_id: str) -> list[RunSummary]:
    """The model's trainings, newest first."""
    with ctx.session() as s:
        load_model(s, who, model_id)
        rows = s.scalars(
            select(TrainingRun)
            .where(TrainingRun.model_id == model_id)
            .order_by(TrainingRun.started_at.desc())
        ).all()
        records = [_record(s, r) for r in rows]
    mlflow = tracking.client(ctx) if records else None
    return [
        RunSummary(**_fields(r), metrics=_final_metrics(mlflow, r.mlflow_run_id, SUMMARY_METRICS))
        for r in records
    ]


def show_run(ctx: AppContext, who: Principal, run_id: str) -> RunDetail:
    """Everything recorded about one training."""
    with ctx.session() as s:
        run = _load(s, who, run_id)
        record, report, steps = _record(s, run), run.report, run.steps
    if not record.mlflow_run_id:
        return RunDetail(**_fields(record), report=report, steps=steps)
    mlflow = tracking.client(ctx)
    found = mlflow.get_run(record.mlflow_run_id)
    return RunDetail(
        **_fields(record),
        report=report,
        steps=steps,
        params=dict(sorted(found.data.params.items())),
        metrics=dict(sorted(found.data.metrics.items())),
        tags={k: v for k, v in found.data.tags.items() if not k.startswith("mlflow.log")},
        datasets=[
            {"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
            for d in found.inputs.dataset_inputs
        ],
        artifact_uri=found.info.artifact_uri,
        artifacts=_artifacts(mlflow, record.mlflow_run_id),
        tracking_uri=tracking.shown_uri(ctx),
    )


def compare(ctx: AppContext, who: Principal, run_ids: list[str]) -> RunComparison:
    """Parameters and final figures side by side; ``differs`` lists what is not the same."""
    if len(run_ids) < 2:
        raise InvalidInput("compare needs at least two run ids")
    shown = [show_run(ctx, who, r) for r in run_ids]
    params = _side_by_side([r.params or {} for r in shown])
    return RunComparison(
        runs=[r.id for r in shown],
        params=params,
        metrics=_side_by_side([r.metrics or {} for r in shown]),
        differs=sorted(
            f"params.{k}" for k, values in params.items() if len({str(v) for v in values}) > 1
        ),
    )


def _side_by_side(per_run: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each key any run has, with one value per run (None where a run lacks it)."""
    return {k: [d.get(k) for d in per_run] for k in sorted({k for d in per_run for k in d})}


def _load(session: Session, who: Principal, run_id: str) -> TrainingRun:
    """By full id or a unique prefix of at least 6 characters, within the caller's workspace."""
    run = session.get(TrainingRun, run_id)
    if run is None and len(run_id) >= 6:
        found = session.scalars(
            select(TrainingRun).where(TrainingRun.id.startswith(run_id)).limit(2)
        ).all()
        run = found[0] if len(found) == 1 else None
    if run is None:
        raise NotFound(f"no training run {run_id!r}")
    load_model(session, who, run.model_id)  # NotFound outside the caller's workspace
    return run


def _record(session: Session, run: TrainingRun) -> RunRecord:
    version = session.get(ModelVersion, run.model_version_id) if run.model_version_id else None
    report = run.report or {}
    return RunRecord(
        id=run.id,
        model_id=run.model_id,
        status=run.status,
        started_at=run.started_at.isoformat(),
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
        dataset_version_id=run.dataset_version_id,
        model_version=version.number if version else None,
        promoted=report.get("promoted"),
        promotion=report.get("promotion"),
        error=run.error,
        mlflow_run_id=run.mlflow_run_id,
        cached_steps=[s["name"] for s in run.steps if s.get("cached")],
    )


def _fields(record: RunRecord) -> dict[str, Any]:
    """The record's fields, to build the answers that extend it (shallow: values are shared)."""
    return {f.name: getattr(record, f.name) for f in fields(RunRecord)}


def _final_metrics(mlflow: Any, mlflow_run_id: str | None, keys: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
    if mlflow is None or not mlflow_run_id:
        return {}
    metrics = mlflow.get_run(mlflow_run_id).data.metrics
    return {k: metrics[k] for k in keys if k in metrics}


def _artifacts(mlflow: Any, run_id: str, path: str | None = None) -> list[str]:
    out: list[str] = []
    for item in mlflow.list_artifacts(run_id, path):
        out.extend(_artifacts(mlflow, run_id, item.path) if item.is_dir else [item.path])
    return out
