"""The durable job queue on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from docloop.db.tables import Job, Model, utcnow
from docloop.domain import JobKind, JobStatus
from docloop.services import jobs, models
from docloop.services.auth import authenticate
from docloop.worker.loop import Worker


def _enqueue(ctx, kind: JobKind = JobKind.OCR, **payload) -> int:  # type: ignore[no-untyped-def]
    with ctx.session() as s:
        return jobs.enqueue(
            s,
            kind,
            payload or {"blob_hash": "0" * 64, "filename": "x.png"},
            model_id=None,
            max_attempts=2,
        ).id


def _expire(ctx, job_id: int) -> None:  # type: ignore[no-untyped-def]
    with ctx.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_only_one_claimer_wins_and_priority_orders(db_ctx) -> None:  # type: ignore[no-untyped-def]
    low = _enqueue(db_ctx, JobKind.OCR)
    high = _enqueue(db_ctx, JobKind.PREDICT, request_file_id="r")
    first = jobs.claim(db_ctx, "a")
    second = jobs.claim(db_ctx, "b")
    assert first is not None and first.id == high
    assert second is not None and second.id == low
    assert jobs.claim(db_ctx, "c") is None


def test_expired_lease_is_reclaimed_then_fails_after_max_attempts(db_ctx) -> None:  # type: ignore[no-untyped-def]
    job_id = _enqueue(db_ctx)
    assert jobs.claim(db_ctx, "dead-1").id == job_id
    _expire(db_ctx, job_id)
    again = jobs.claim(db_ctx, "dead-2")
    assert again is not None and again.id == job_id and again.attempts == 2
    assert not jobs.heartbeat(db_ctx, job_id, "dead-1")  # the first owner lost its lease
    _expire(db_ctx, job_id)
    assert jobs.claim(db_ctx, "w") is None
    with db_ctx.session() as s:
        job = s.get(Job, job_id)
        assert job.status == JobStatus.FAILED.value and "gave up after 2 attempts" in job.error


def test_failed_training_marks_the_model_with_a_readable_reason(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = authenticate(db_ctx, "test-admin-key")
    model = models.create_model(db_ctx, who, categories=["a"])
    with db_ctx.session() as s:
        s.get(Model, model.id).train_state = "queued"
        job_id = jobs.enqueue(
            s, JobKind.TRAIN, {"model_id": model.id}, model_id=model.id, max_attempts=2
        ).id
    # no annotated pages: the training raises a permanent InvalidInput
    assert Worker(db_ctx, "w").run(burst=True) == 1
    info = models.get_model(db_ctx, who, model.id)
    assert int(info.state) == -1 and "no annotated page" in info.status
    with db_ctx.session() as s:
        assert s.get(Job, job_id).status == JobStatus.FAILED.value


def test_transient_failures_are_retried(db_ctx) -> None:  # type: ignore[no-untyped-def]
    job_id = _enqueue(db_ctx)  # the blob does not exist: NotFound is not retryable...
    Worker(db_ctx, "w").run(burst=True)
    with db_ctx.session() as s:
        assert s.get(Job, job_id).status == JobStatus.FAILED.value
    job_id = _enqueue(db_ctx)
    claimed = jobs.claim(db_ctx, "w")
    assert not jobs.fail(db_ctx, claimed.id, "w", "network blip", retryable=True)
    with db_ctx.session() as s:
        assert s.get(Job, job_id).status == JobStatus.QUEUED.value
