"""A durable job queue in the database: no broker, works the same on SQLite and PostgreSQL.

A worker claims a job with a conditional UPDATE (only one claimer can win), keeps a lease alive
with heartbeats, and records success or failure. A job whose lease expired (its worker died) is
claimed again; after ``max_attempts`` claims it fails with the last reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from docloop.db.tables import Job, utcnow
from docloop.domain import JOB_PRIORITY, JobKind, JobStatus
from docloop.services.context import AppContext


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: JobKind
    payload: dict[str, Any]
    attempts: int


def enqueue(
    session, kind: JobKind, payload: dict[str, Any], *, model_id: str | None, max_attempts: int
) -> Job:  # type: ignore[no-untyped-def]
    """Add a job inside the caller's unit of work, so it exists only if the caller commits."""
    now = utcnow()
    job = Job(
        kind=kind.value,
        status=JobStatus.QUEUED.value,
        priority=JOB_PRIORITY[kind],
        payload=payload,
        model_id=model_id,
        attempts=0,
        max_attempts=max_attempts,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job


# A retried job waits this long times 2^(attempts - 1), at most BACKOFF_MAX_S.
BACKOFF_S = 2.0
BACKOFF_MAX_S = 600.0


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    return or_(
        and_(
            Job.status == JobStatus.QUEUED.value,
            or_(Job.run_after.is_(None), Job.run_after <= now),
        ),
        and_(Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now),
    )


def claim(ctx: AppContext, owner: str, kinds: list[JobKind] | None = None) -> ClaimedJob | None:
    """Lease the most urgent claimable job to ``owner``, or return None when there is none."""
    lease = timedelta(seconds=ctx.settings.job_lease_s)
    for _ in range(5):  # lost races are retried on the next candidate
        now = utcnow()
        with ctx.session() as s:
            query = select(Job.id, Job.attempts, Job.max_attempts).where(_claimable(now))
            if kinds:
                query = query.where(Job.kind.in_([k.value for k in kinds]))
            row = s.execute(query.order_by(Job.priority.desc(), Job.id).limit(1)).first()
            if row is None:
                return None
            job_id, attempts, max_attempts = row
            if attempts >= max_attempts:
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, _claimable(now))
                    .values(
                        status=JobStatus.FAILED.value,
                        error=f"gave up after {attempts} attempts (worker lost)",
                        finished_at=now,
                        updated_at=now,
                    )
                )
                _on_final_failure(s, job_id)
                continue
            won = s.execute(
                update(Job)
                .where(Job.id == job_id, _claimable(now))
                .values(
                    status=JobStatus.RUNNING.value,
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                    attempts=Job.attempts + 1,
                    updated_at=now,
                )
            ).rowcount
            if won != 1:
                continue
            job = s.get(Job, job_id)
            assert job is not None
            return ClaimedJob(job.id, JobKind(job.kind), dict(job.payload), job.attempts)
    return None


def heartbeat(ctx: AppContext, job_id: int, owner: str, progress: float | None = None) -> bool:
    """Extend the lease; False means the job was taken from us (lease expired and reclaimed)."""
    now = utcnow()
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=ctx.settings.job_lease_s),
        "updated_at": now,
    }
    if progress is not None:
        values["progress"] = progress
    with ctx.session() as s:
        return (
            s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.lease_owner == owner,
                    Job.status == JobStatus.RUNNING.value,
                )
                .values(**values)
            ).rowcount
            == 1
        )


def succeed(ctx: AppContext, job_id: int, owner: str) -> None:
    now = utcnow()
    with ctx.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner)
            .values(status=JobStatus.SUCCEEDED.value, progress=1.0, finished_at=now, updated_at=now)
        )


def fail(ctx: AppContext, job_id: int, owner: str, reason: str, *, retryable: bool) -> bool:
    """Record a failure; returns True when the job is finally failed (no retry left)."""
    now = utcnow()
    with ctx.session() as s:
        job = s.get(Job, job_id)
        if job is None or job.lease_owner != owner:
            return False
        final = not retryable or job.attempts >= job.max_attempts
        job.status = (JobStatus.FAILED if final else JobStatus.QUEUED).value
        job.run_after = None if final else now + timedelta(seconds=backoff(job.attempts))
        job.error = reason[:4000]
        job.lease_owner = None
        job.lease_expires_at = None
        job.updated_at = now
        if final:
            job.finished_at = now
            _on_final_failure(s, job_id)
        return final


def backlog(session: Session) -> list[tuple[JobKind, JobStatus, int, datetime]]:
    """Jobs queued or running, per kind and status, with the creation time of the oldest (UTC).

    One grouped query over the claim index's leading column: finished jobs are not read."""
    rows = session.execute(
        select(Job.kind, Job.status, func.count(Job.id), func.min(Job.created_at))
        .where(Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        .group_by(Job.kind, Job.status)
    ).all()
    return [
        (JobKind(kind), JobStatus(status), count, _aware(oldest))
        for kind, status, count, oldest in rows
    ]


def _aware(when: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored is UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def backoff(attempts: int) -> float:
    """Seconds before a failed job is tried again: doubling, so a down receiver is not hammered."""
    return min(BACKOFF_MAX_S, BACKOFF_S * 2 ** max(attempts - 1, 0))


def _on_final_failure(session, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Let the owning use case record the failure where users look (the model, the file)."""
    from docloop.services import exports, predictions, training

    job = session.get(Job, job_id)
    if job is None:
        return
    reason = job.error or "failed"
    if job.kind == JobKind.TRAIN.value:
        training.mark_failed(session, job.payload, reason)
    elif job.kind == JobKind.PREDICT.value:
        predictions.mark_failed(session, job.payload["request_file_id"], reason)
    elif job.kind == JobKind.EXPORT.value:
        exports.mark_failed(session, job.payload["export_id"], reason)
