""" "The model is trained" and "the training failed", through the notification channel.

A finished training announces itself as it registers its version; a failure is final only once
the job queue gives up on it, so failures (and any success not yet announced) are announced by
the monitoring check. Each run is announced once: the claim is a conditional update.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, update

from docloop.db.tables import Job, Model, ModelVersion, TrainingRun, utcnow
from docloop.domain import JobStatus
from docloop.services import notify
from docloop.services.context import AppContext
from docloop.services.model_versions import validation_score


def _ended():  # type: ignore[no-untyped-def]
    """Succeeded, or failed for good: a failed attempt whose job will be retried is not."""
    retried = exists(
        select(Job.id).where(Job.id == TrainingRun.job_id, Job.status != JobStatus.FAILED.value)
    )
    return or_(TrainingRun.status == "succeeded", and_(TrainingRun.status == "failed", ~retried))


def announce(ctx: AppContext, run_id: str) -> notify.Notice | None:
    """Send the run's outcome if it has ended and nobody announced it; the notice sent."""
    with ctx.session() as s:
        won = s.execute(
            update(TrainingRun)
            .where(TrainingRun.id == run_id, _ended(), TrainingRun.announced_at.is_(None))
            .values(announced_at=utcnow())
        ).rowcount
        if won != 1:
            return None
        run = s.get(TrainingRun, run_id)
        model = s.get(Model, run.model_id) if run else None
        if run is None or model is None:
            return None
        version = s.get(ModelVersion, run.model_version_id or "")
        notice = _notice(run, model, version)
    notify.send(ctx.settings, notice)
    return notice


def announce_pending(ctx: AppContext) -> list[notify.Notice]:
    """Announce every ended run not announced yet."""
    with ctx.session() as s:
        ids = s.scalars(
            select(TrainingRun.id).where(_ended(), TrainingRun.announced_at.is_(None))
        ).all()
    return [n for n in (announce(ctx, i) for i in ids) if n is not None]


def _notice(run: TrainingRun, model: Model, version: ModelVersion | None) -> notify.Notice:
    report = run.report or {}
    if run.status == "failed" or version is None:
        return notify.Notice(
            event="training.failed", model_id=model.id, model_name=model.name,
            subject=f"training of model {model.name} failed",
            text=f"The training of model {model.name} ({model.id}) failed: {run.error}",
            details={"run_id": run.id, "error": run.error},
        )  # fmt: skip
    score = validation_score(version.metrics or {})
    promoted = bool(report.get("promoted"))
    served = "is now served" if promoted else "is not served"
    return notify.Notice(
        event="training.succeeded", model_id=model.id, model_name=model.name,
        subject=f"model {model.name} is trained: version {version.number}",
        text=(
            f"Model {model.name} ({model.id}) is trained: version {version.number} {served} "
            f"(validation score {score}; {report.get('promotion', '')})."
        ),
        details={"run_id": run.id, "version": version.number, "promoted": promoted,
                 "validation_score": score, "promotion": report.get("promotion")},
    )  # fmt: skip
