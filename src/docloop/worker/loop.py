"""claim -> run -> record, with a heartbeat thread that keeps the lease while a job runs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable

from docloop.domain import JobKind
from docloop.errors import DocloopError
from docloop.services import datasets, exports, jobs, predictions, training, webhooks
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


class Worker:
    """One job at a time. ``stop()`` lets the current job finish, then the loop returns."""

    def __init__(self, ctx: AppContext, name: str | None = None) -> None:
        self.ctx = ctx
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> bool:
        """Run one job if there is one; returns whether any job was found."""
        job = jobs.claim(self.ctx, self.owner)
        if job is None:
            return False
        progress: list[float | None] = [None]
        done = threading.Event()

        def beat(fraction: float) -> None:
            progress[0] = fraction

        def keep_lease() -> None:
            while not done.wait(self.ctx.settings.job_lease_s / 3):
                jobs.heartbeat(self.ctx, job.id, self.owner, progress[0])

        keeper = threading.Thread(target=keep_lease, daemon=True, name=f"lease-{job.id}")
        keeper.start()
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
            if not final and job.kind == JobKind.TRAIN:
                training.requeued(self.ctx, job.payload["model_id"])
        else:
            jobs.succeed(self.ctx, job.id, self.owner)
        finally:
            done.set()
            keeper.join()
        return True

    def run(self, *, max_jobs: int | None = None, burst: bool = False) -> int:
        """Loop until stopped; ``burst`` returns when the queue is empty. Returns jobs run."""
        count = 0
        while not self._stop.is_set() and (max_jobs is None or count < max_jobs):
            try:
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
        return count


def start_background(ctx: AppContext) -> tuple[Worker, threading.Thread]:
    """The in-process worker of ``docloop serve``."""
    worker = Worker(ctx)
    thread = threading.Thread(target=worker.run, daemon=True, name="docloop-worker")
    thread.start()
    return worker, thread
