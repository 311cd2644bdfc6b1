"""Training runs as users read them: our record (steps, validation report, outcome) joined with
the MLflow run (parameters, figures, environment, artifacts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import ModelVersion, TrainingRun
from docloop.errors import InvalidInput, NotFound
from docloop.services import tracking
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model

# Figures shown in lists and comparisons, in this order, when the run has them.
SUMMARY_METRICS = ("val_text_accuracy", "wall_seconds", "cpu_seconds", "cost_estimate")


def list_runs(ctx: AppContext, who: Principal, model_id: str) -> list[dict[str, Any]]:
    """The model's trainings, newest first."""
    with ctx.session() as s:
        load_model(s, who, model_id)
        rows = s.scalars(
            select(TrainingRun)
            .where(TrainingRun.model_id == model_id)
            .order_by(TrainingRun.started_at.desc())
        ).all()
        out = [_summary(s, r) for r in rows]
    mlflow = tracking.client(ctx) if out else None
    for run in out:
        run["metrics"] = _final_metrics(mlflow, run["mlflow_run_id"], SUMMARY_METRICS)
    return out


def show_run(ctx: AppContext, who: Principal, run_id: str) -> dict[str, Any]:
    """Everything recorded about one training."""
    with ctx.session() as s:
        run = _load(s, who, run_id)
        out = {**_summary(s, run), "report": run.report, "steps": run.steps}
    if out["mlflow_run_id"]:
        mlflow = tracking.client(ctx)
        found = mlflow.get_run(out["mlflow_run_id"])
        out["params"] = dict(sorted(found.data.params.items()))
        out["metrics"] = dict(sorted(found.data.metrics.items()))
        out["tags"] = {k: v for k, v in found.data.tags.items() if not k.startswith("mlflow.log")}
        out["datasets"] = [
            {"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
            for d in found.inputs.dataset_inputs
        ]
        out["artifact_uri"] = found.info.artifact_uri
        out["artifacts"] = _artifacts(mlflow, out["mlflow_run_id"])
        out["tracking_uri"] = tracking.shown_uri(ctx)
    return out


def compare(ctx: AppContext, who: Principal, run_ids: list[str]) -> dict[str, Any]:
    """Parameters and final figures side by side; ``differs`` lists what is not the same."""
    if len(run_ids) < 2:
        raise InvalidInput("compare needs at least two run ids")
    shown = [show_run(ctx, who, r) for r in run_ids]
    table: dict[str, dict[str, list[Any]]] = {"params": {}, "metrics": {}}
    for kind in table:
        keys = sorted({k for r in shown for k in r.get(kind, {})})
        table[kind] = {k: [r.get(kind, {}).get(k) for r in shown] for k in keys}
    return {
        "runs": [r["id"] for r in shown],
        **table,
        "differs": sorted(
            f"{kind}.{k}"
            for kind in ("params",)
            for k, values in table[kind].items()
            if len({str(v) for v in values}) > 1
        ),
    }


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


def _summary(session: Session, run: TrainingRun) -> dict[str, Any]:
    version = session.get(ModelVersion, run.model_version_id) if run.model_version_id else None
    report = run.report or {}
    return {
        "id": run.id,
        "model_id": run.model_id,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "dataset_version_id": run.dataset_version_id,
        "model_version": version.number if version else None,
        "promoted": report.get("promoted"),
        "promotion": report.get("promotion"),
        "error": run.error,
        "mlflow_run_id": run.mlflow_run_id,
        "cached_steps": [s["name"] for s in run.steps if s.get("cached")],
    }


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
