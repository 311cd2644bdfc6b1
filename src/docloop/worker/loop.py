"""claim -> run -> record, with a heartbeat thread that keeps the lease while a job runs.

Stopping (``stop()``, on SIGTERM): a short job is finished; a long one (training) saves its
state and hands its job back, so another worker resumes it at once instead of waiting for the
lease to expire. A worker claims nothing while the database schema is behind this docloop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid

from sqlalchemy.exc import SQLAlchemyError

from docloop.cpu_share import usable_cores
from docloop.db.migrate import behind
from docloop.domain import JobKind
from docloop.errors import DocloopError, Interrupted, InvalidInput
from docloop.services import jobs, training, worker_registry
from docloop.services.context import AppContext
from docloop.services.job_kinds import HANDLERS, LIGHT_KINDS
from docloop.services.jobs import ClaimedJob

log = logging.getLogger("docloop.worker")


def runnable_kinds(kinds: list[JobKind] | None) -> list[JobKind] | None:
    """The job kinds this process can run out of ``kinds`` (None: all of them).

    Without PyTorch a worker leaves training jobs queued for a worker that has it (the
    ``docloop-trainer`` image) instead of claiming them and failing; asked for training jobs
    alone, it refuses to start."""
    if training.can_train():
        return kinds
    wanted = list(JobKind) if kinds is None else kinds
    runnable = [k for k in wanted if k != JobKind.TRAIN]
    if not runnable:
        raise InvalidInput(
            "this worker was asked to train, but PyTorch is not installed here: install "
            "'docloop[train]' or run the docloop-trainer image"
        )
    if JobKind.TRAIN in wanted:
        log.warning(
            "PyTorch is not installed: this worker leaves training jobs to workers that have "
            "it (the docloop[train] extra, the docloop-trainer image)"
        )
    return runnable


class Worker:
    """One job at a time. ``stop()`` lets a short job finish and makes a long one hand itself
    back, then the loop returns."""

    def __init__(
        self, ctx: AppContext, name: str | None = None, kinds: list[JobKind] | None = None
    ) -> None:
        self.ctx = ctx
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.kinds = runnable_kinds(kinds)
        self._stop = threading.Event()
        self._seen = float("-inf")

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> bool:
        """Run one job if there is one; returns whether any job was found."""
        job = jobs.claim(self.ctx, self.owner, self.kinds)
        if job is None:
            return False
        handler = HANDLERS[job.kind]
        progress: list[float | None] = [None]
        done = threading.Event()

        def beat(fraction: float) -> None:
            progress[0] = fraction

        def keep_lease() -> None:
            while not done.wait(self.ctx.settings.job_lease_s / 3):
                jobs.heartbeat(self.ctx, job.id, self.owner, progress[0])
                try:
                    worker_registry.beat(self.ctx, self.owner, self.kinds)
                except Exception:  # keeping the lease matters more than the live count
                    log.exception("worker registry beat failed")

        keeper = threading.Thread(target=keep_lease, daemon=True, name=f"lease-{job.id}")
        keeper.start()
        started = time.perf_counter()
        try:
            handler.run(self.ctx, job.payload, jobs.JobControl(beat, self._stop.is_set))
        except Interrupted as exc:
            log.info("job %s (%s) handed back: %s", job.id, job.kind, exc.message)
            if jobs.release(self.ctx, job.id, self.owner) and handler.on_retry is not None:
                handler.on_retry(self.ctx, job.payload)
        except Exception as exc:
            retryable = (
                exc.retryable if isinstance(exc, DocloopError) else not isinstance(exc, ValueError)
            )
            reason = (
                exc.message if isinstance(exc, DocloopError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning(
                "job %s (%s) failed: %s\n%s", job.id, job.kind, reason, traceback.format_exc()
            )
            final = jobs.fail(self.ctx, job.id, self.owner, reason, retryable=retryable)
            self._measure(job, started, "failed" if final else "retried")
            if not final and handler.on_retry is not None:
                handler.on_retry(self.ctx, job.payload)
        else:
            jobs.succeed(self.ctx, job.id, self.owner)
            self._measure(job, started, "succeeded")
        finally:
            done.set()
            keeper.join()
        return True

    def _measure(self, job: ClaimedJob, started: float, outcome: str) -> None:
        metrics = self.ctx.metrics
        metrics.job_seconds.labels(job.kind.value).observe(time.perf_counter() - started)
        metrics.jobs_finished.labels(job.kind.value, outcome).inc()

    def _alive(self) -> None:
        """Tell the registry this loop is alive, at the pace of the job heartbeats."""
        now = time.monotonic()
        if now - self._seen >= self.ctx.settings.job_lease_s / 3:
            worker_registry.beat(self.ctx, self.owner, self.kinds)
            self._seen = now

    def run(self, *, max_jobs: int | None = None, burst: bool = False) -> int:
        """Loop until stopped; ``burst`` returns when the queue is empty. Returns jobs run."""
        count = 0
        while not self._stop.is_set() and (max_jobs is None or count < max_jobs):
            try:
                self._alive()
                found = self.run_once()
            except Exception:  # a database hiccup must not kill the loop
                log.exception("worker loop error")
                found = False
            if found:
                count += 1
            elif burst:
                break
            else:
                self._stop.wait(self.ctx.settings.worker_poll_s)
        try:
            worker_registry.leave(self.ctx, self.owner)
        except Exception:  # the row then ages out of the live count by itself
            log.exception("could not leave the worker registry")
        return count


class WorkerPool:
    """``threads`` workers in one process, so uploads are read by every OCR engine at once.

    The first worker runs any job of ``kinds`` (default: every kind); the others only light
    ones, so two trainings never fight over the cores of one process."""

    def __init__(self, ctx: AppContext, kinds: list[JobKind] | None = None) -> None:
        self.ctx = ctx
        threads = ctx.settings.worker_threads or usable_cores()
        light = [k for k in kinds or list(HANDLERS) if k in LIGHT_KINDS]
        first = Worker(ctx, kinds=kinds)
        self.workers = [first] + [
            Worker(ctx, f"{first.owner}-{i}", light) for i in range(1, threads if light else 1)
        ]
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        for w in self.workers:
            w.stop()

    def run(self, *, burst: bool = False) -> int:
        """Run every worker until stopped (or, with ``burst``, until the queue is empty), once
        the schema is at head. Returns the jobs run."""
        if not wait_for_schema(self.ctx, self._stop):
            return 0
        counts = [0] * len(self.workers)

        def loop(i: int) -> None:
            counts[i] = self.workers[i].run(burst=burst)

        threads = [
            threading.Thread(target=loop, args=(i,), daemon=True, name=f"docloop-worker-{i}")
            for i in range(len(self.workers))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts)


def wait_for_schema(ctx: AppContext, stop: threading.Event, poll_s: float = 2.0) -> bool:
    """Return True once the database is at this docloop's schema, or False when ``stop`` is set
    first; says why it waits (run `docloop migrate`, or the database is unreachable)."""
    said = None
    while not stop.is_set():
        try:
            pending = behind(ctx.engine)
        except SQLAlchemyError as exc:
            pending = f"the database is unreachable: {type(exc).__name__}"
        if pending is None:
            return True
        if pending != said:
            log.warning("worker waiting: %s", pending)
            said = pending
        stop.wait(poll_s)
    return False


def start_background(ctx: AppContext) -> tuple[WorkerPool, threading.Thread]:
    """The in-process workers of ``docloop serve``."""
    pool = WorkerPool(ctx)
    thread = threading.Thread(target=pool.run, daemon=True, name="docloop-workers")
    thread.start()
    return pool, thread
