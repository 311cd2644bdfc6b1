"""claim -> run -> record, with a heartbeat thread that keeps the lease while a job runs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable

from docloop.domain import JobKind
from docloop.errors import DocloopError, InvalidInput
from docloop.services import (
    datasets,
    exports,
    jobs,
    predictions,
    training,
    webhooks,
    worker_registry,
)
from docloop.services.context import AppContext
from docloop.services.jobs import ClaimedJob

log = logging.getLogger("docloop.worker")


def _run(ctx: AppContext, job: ClaimedJob, beat: Callable[[float], None]) -> None:
    if job.kind == JobKind.OCR:
        datasets.run_ocr_job(ctx, job.payload)
    elif job.kind == JobKind.PREDICT:
        predictions.run_prediction_job(ctx, job.payload)
    elif job.kind == JobKind.TRAIN:
        training.run_training_job(ctx, job.payload, beat)
    elif job.kind == JobKind.EXPORT:
        exports.run_export_job(ctx, job.payload)
    elif job.kind == JobKind.WEBHOOK:
        webhooks.run_delivery_job(ctx, job.payload)


# Jobs that use one OCR engine (one core) at most; training uses every core by itself.
LIGHT_KINDS = [JobKind.OCR, JobKind.PREDICT, JobKind.EXPORT, JobKind.WEBHOOK]


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
    """One job at a time. ``stop()`` lets the current job finish, then the loop returns."""

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
            _run(self.ctx, job, beat)
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
            if not final and job.kind == JobKind.TRAIN:
                training.requeued(self.ctx, job.payload["model_id"])
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

    The first worker runs any job; the others only light ones, so two trainings never fight
    over the cores of one process."""

    def __init__(self, ctx: AppContext) -> None:
        threads = ctx.settings.worker_threads or os.cpu_count() or 1
        first = Worker(ctx)
        self.workers = [first] + [
            Worker(ctx, f"{first.owner}-{i}", LIGHT_KINDS) for i in range(1, threads)
        ]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()

    def run(self, *, burst: bool = False) -> int:
        """Run every worker until stopped (or, with ``burst``, until the queue is empty)."""
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


def start_background(ctx: AppContext) -> tuple[WorkerPool, threading.Thread]:
    """The in-process workers of ``docloop serve``."""
    pool = WorkerPool(ctx)
    thread = threading.Thread(target=pool.run, daemon=True, name="docloop-workers")
    thread.start()
    return pool, thread
