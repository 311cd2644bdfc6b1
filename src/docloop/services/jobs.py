"""A durable job queue in the database: no broker, works the same on SQLite and PostgreSQL.

A worker claims a job, keeps a lease alive with heartbeats, and records success or failure. A
job whose lease expired (its worker died) is claimed again; after ``max_attempts`` claims it
fails with the last reason. A worker that is stopping hands a long job back (``release``), and
another worker claims it at once.

Claiming: on PostgreSQL, ``SELECT ... FOR UPDATE SKIP LOCKED`` in one transaction, so concurrent
workers each lock a different row and none loses a race; on SQLite, whose writers take turns
anyway, a conditional UPDATE (only one claimer can win). ``benchmarks/job_claims.py`` compares
the two on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
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


@dataclass(frozen=True, slots=True)
class JobControl:
    """What a running job sees of its worker: ``beat`` reports progress (kept with the lease),
    ``stopping`` says the worker was asked to stop, so a long job should hand itself back."""

    beat: Callable[[float], None]
    stopping: Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim attempt's outcome: the job (None when there was none to take), and how many
    candidates another worker took first (always 0 with SKIP LOCKED)."""

    job: ClaimedJob | None
    lost_races: int = 0


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
    strategy = claim_skip_locked if ctx.engine.dialect.name == "postgresql" else claim_with_update
    return strategy(ctx, owner, kinds).job


def claim_with_update(
    ctx: AppContext, owner: str, kinds: list[JobKind] | None = None, *, tries: int = 5
) -> Claim:
    """Read the most urgent candidate, then take it with an UPDATE that matches only while it is
    still claimable; a lost race moves on to the next candidate, ``tries`` times at most."""
    lost = 0
    for _ in range(tries):
        now = utcnow()
        with ctx.session() as s:
            row = s.execute(_candidates(now, kinds).limit(1)).first()
            if row is None:
                return Claim(None, lost)
            job_id, attempts, max_attempts = row
            if attempts >= max_attempts:
                _give_up(s, job_id, attempts, now)
                continue
            if _take(ctx, s, job_id, owner, now) != 1:
                lost += 1
                continue
            return Claim(_claimed(s, job_id), lost)
    return Claim(None, lost)


def claim_skip_locked(ctx: AppContext, owner: str, kinds: list[JobKind] | None = None) -> Claim:
    """PostgreSQL: lock the most urgent candidate that no other transaction holds (``FOR UPDATE
    SKIP LOCKED``) and take it in the same transaction; a candidate out of attempts is failed
    on the way, and the next one is taken."""
    now = utcnow()
    with ctx.session() as s:
        while True:
            locked = _candidates(now, kinds).limit(1).with_for_update(skip_locked=True)
            row = s.execute(locked).first()
            if row is None:
                return Claim(None)
            job_id, attempts, max_attempts = row
            if attempts >= max_attempts:
                _give_up(s, job_id, attempts, now)
                continue
            _take(ctx, s, job_id, owner, now)
            return Claim(_claimed(s, job_id))


def _candidates(now: datetime, kinds: list[JobKind] | None) -> Select:  # type: ignore[type-arg]
    """Claimable jobs of ``kinds`` (all when None), most urgent first."""
    query = select(Job.id, Job.attempts, Job.max_attempts).where(_claimable(now))
    if kinds:
        query = query.where(Job.kind.in_([k.value for k in kinds]))
    return query.order_by(Job.priority.desc(), Job.id)


def _give_up(s: Session, job_id: int, attempts: int, now: datetime) -> None:
    """A job claimed ``max_attempts`` times whose last worker vanished fails for good."""
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


def _take(ctx: AppContext, s: Session, job_id: int, owner: str, now: datetime) -> int:
    """Lease ``job_id`` to ``owner`` if it is still claimable; returns the rows changed (0 or 1)."""
    lease = timedelta(seconds=ctx.settings.job_lease_s)
    result = s.execute(
        update(Job)
        .where(Job.id == job_id, _claimable(now))
        .values(
            status=JobStatus.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=Job.attempts + 1,
            updated_at=now,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _claimed(s: Session, job_id: int) -> ClaimedJob:
    job = s.get(Job, job_id)
    assert job is not None, "the job was just leased in this transaction"
    return ClaimedJob(job.id, JobKind(job.kind), dict(job.payload), job.attempts)


def release(ctx: AppContext, job_id: int, owner: str) -> bool:
    """Hand a running job back to the queue at once: lease cleared, claimable now, and this
    attempt not counted (its worker is stopping; the job did not fail). False when the job is
    no longer ``owner``'s."""
    now = utcnow()
    with ctx.session() as s:
        result = s.execute(
            update(Job)
            .where(
                Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.RUNNING.value
            )
            .values(
                status=JobStatus.QUEUED.value,
                lease_owner=None,
                lease_expires_at=None,
                run_after=None,
                attempts=Job.attempts - 1,
                updated_at=now,
            )
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]


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


def _on_final_failure(session: Session, job_id: int) -> None:
    """Let the owning use case record the failure where users look (the model, the file)."""
    from docloop.services.job_kinds import HANDLERS  # the handlers enqueue jobs themselves

    job = session.get(Job, job_id)
    if job is None:
        return
    handler = HANDLERS[JobKind(job.kind)]
    if handler.on_final_failure is not None:
        handler.on_final_failure(session, job.payload, job.error or "failed")
