"""The one table of job kinds: what runs each kind, and what its retry or final failure records.

The worker dispatches through it, the queue's failure path asks it whom to tell, and
``docloop worker --queues`` names its keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from docloop.domain import JobKind
from docloop.services import datasets, exports, predictions, training, webhooks
from docloop.services.context import AppContext
from docloop.services.jobs import JobControl

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobHandler:
    """``run`` does the job. A ``long`` job takes every core for minutes: a worker process
    runs one at a time, and a stopping worker hands it back (it checks
    ``JobControl.stopping``) where a short one is finished. ``on_retry`` and
    ``on_final_failure`` record a failed attempt where users look."""

    run: Callable[[AppContext, Payload, JobControl], None]
    long: bool = False
    on_retry: Callable[[AppContext, Payload], None] | None = None
    on_final_failure: Callable[[Session, Payload, str], None] | None = None


HANDLERS: dict[JobKind, JobHandler] = {
    JobKind.OCR: JobHandler(lambda ctx, p, _: datasets.run_ocr_job(ctx, p)),
    JobKind.PREDICT: JobHandler(
        lambda ctx, p, _: predictions.run_prediction_job(ctx, p),
        on_final_failure=lambda s, p, why: predictions.mark_failed(s, p["request_file_id"], why),
    ),
    JobKind.TRAIN: JobHandler(
        training.run_training_job,
        long=True,
        on_retry=lambda ctx, p: training.requeued(ctx, p["model_id"]),
        on_final_failure=training.mark_failed,
    ),
    JobKind.EXPORT: JobHandler(
        lambda ctx, p, _: exports.run_export_job(ctx, p),
        on_final_failure=lambda s, p, why: exports.mark_failed(s, p["export_id"], why),
    ),
    JobKind.WEBHOOK: JobHandler(lambda ctx, p, _: webhooks.run_delivery_job(ctx, p)),
}

# Jobs that use one OCR engine (one core) at most; a long job uses every core by itself.
LIGHT_KINDS = [kind for kind, handler in HANDLERS.items() if not handler.long]
