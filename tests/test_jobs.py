"""The durable job queue on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from docloop.db.tables import Job, Model, utcnow
from docloop.domain import JobKind, JobStatus
from docloop.services import jobs, models
from docloop.services.auth import authenticate
from docloop.services.context import AppContext, build_context
from docloop.services.job_kinds import HANDLERS
from docloop.worker.loop import Worker
from tests.conftest import _ENGINE, PG_ENV, _pg_database, make_settings


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


def test_every_job_kind_has_one_handler() -> None:
    assert set(HANDLERS) == set(JobKind)
    assert [k for k, h in HANDLERS.items() if h.long] == [JobKind.TRAIN]


def test_a_released_job_is_claimable_at_once_and_its_attempt_not_counted(db_ctx) -> None:  # type: ignore[no-untyped-def]
    job_id = _enqueue(db_ctx)
    assert jobs.claim(db_ctx, "stopping").attempts == 1
    assert not jobs.release(db_ctx, job_id, "someone-else")
    assert jobs.release(db_ctx, job_id, "stopping")
    with db_ctx.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.lease_owner, job.lease_expires_at, job.attempts) == (
            JobStatus.QUEUED.value, None, None, 0,
        )  # fmt: skip
    again = jobs.claim(db_ctx, "next")
    assert again is not None and again.id == job_id and again.attempts == 1


@pytest.fixture
def pg_ctx(tmp_path: Path) -> Iterator[AppContext]:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (a server URL; .ci/run sets it)")
    for url in _pg_database():
        context = build_context(make_settings(tmp_path / "home", url), ocr=_ENGINE)
        yield context
        context.close()


def test_concurrent_workers_claim_each_job_exactly_once_on_postgresql(pg_ctx) -> None:  # type: ignore[no-untyped-def]
    with pg_ctx.session() as s:
        seeded = [
            jobs.enqueue(s, JobKind.OCR, {"n": i}, model_id=None, max_attempts=2).id
            for i in range(160)
        ]
    claimed: list[list[int]] = [[] for _ in range(8)]
    lost: list[int] = [0] * 8

    def claim_all(i: int) -> None:
        while (result := jobs.claim_skip_locked(pg_ctx, f"worker-{i}")).job is not None:
            claimed[i].append(result.job.id)
            lost[i] += result.lost_races

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [job_id for ids in claimed for job_id in ids]
    assert sorted(every) == sorted(seeded)  # each once: none twice, none left behind
    assert sum(lost) == 0
    assert sum(1 for ids in claimed if ids) > 1, "the threads shared the work"


def test_worker_queues_pick_job_kinds(tmp_path: Path) -> None:
    """`docloop worker --queues ocr` leaves a training for a training worker; a bad kind is a
    one-line error with exit status 2."""
    home = tmp_path / "home"
    ctx = build_context(make_settings(home), ocr=_ENGINE)
    ocr_job, train_job = _enqueue(ctx), _enqueue(ctx, JobKind.TRAIN, model_id="m")

    def worker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "docloop.cli", "worker", "--home", str(home), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    bad = worker("--queues", "ocr,trian")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "unknown job kind trian" in bad.stderr
    ran = worker("--queues", "ocr", "--burst")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "queues: ocr" in ran.stdout and "worker ran 1 job(s)" in ran.stdout
    with ctx.session() as s:
        assert s.get(Job, ocr_job).status == JobStatus.FAILED.value  # no such blob: it ran
        assert s.get(Job, train_job).status == JobStatus.QUEUED.value
    ctx.close()
