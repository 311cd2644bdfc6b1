"""Each approved file's fields, POSTed as JSON to the model's webhook URL.

Deliveries are jobs: a receiver that is down or answers 5xx is tried again with doubling waits
(the job queue's back-off), up to ``WEBHOOK_ATTEMPTS`` times; a 4xx answer is final (retrying
an address that refuses the request changes nothing). Addresses are checked like upload URLs:
no private or loopback network unless the operator allows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop import __version__
from docloop.db.tables import InferenceFile, Job, Model
from docloop.domain import JobKind, JobStatus
from docloop.errors import Conflict, InvalidInput, TransientError
from docloop.services import jobs, second_review
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.fetch import check_host
from docloop.services.models import load_model
from docloop.services.routing import best_fields
from docloop.services.users import require
from docloop.views import given

WEBHOOK_ATTEMPTS = 8
TIMEOUT_S = 10.0


def check_url(url: str, ctx: AppContext) -> None:
    if len(url) > 2000:
        raise InvalidInput("the webhook URL is longer than 2000 characters")
    check_host(url, ctx.settings)


def enqueue_delivery(ctx: AppContext, session: Session, model: Model, file_id: str) -> None:
    """Queue the delivery inside the approval's unit of work: no approval, no delivery."""
    if model.webhook_url:
        jobs.enqueue(
            session, JobKind.WEBHOOK, {"request_file_id": file_id, "url": model.webhook_url},
            model_id=model.id, max_attempts=WEBHOOK_ATTEMPTS,
        )  # fmt: skip


def retry(
    ctx: AppContext, who: Principal, model_id: str, file_ids: Sequence[str] | None
) -> dict[str, Any]:
    """Deliver approved files to the model's webhook again: the given ones, or (None) every file
    whose last delivery failed for good. A file that is not approved has nothing to export."""
    from docloop.services.predictions import _load_file

    require(who, "review")
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        if not model.webhook_url:
            raise Conflict(
                f"model {model_id} has no webhook URL to export to: set one in the model's "
                "settings first"
            )
        if file_ids is None:
            failed = s.scalars(
                select(Job.payload).where(
                    Job.model_id == model_id,
                    Job.kind == JobKind.WEBHOOK.value,
                    Job.status == JobStatus.FAILED.value,
                )
            ).all()
            # A file under the caller's open second review is left out, as in every listing.
            hidden = set(s.scalars(second_review.hidden_from(who.actor)))
            ids = (str(p["request_file_id"]) for p in failed)
            file_ids = list(dict.fromkeys(f for f in ids if f not in hidden))
        queued, skipped = [], []
        for file_id in file_ids:
            row = _load_file(s, who, model_id, file_id)
            if row.moderated:
                enqueue_delivery(ctx, s, model, row.id)
                queued.append(row.id)
            else:
                skipped.append({"request_file_id": row.id, "reason": "the file is not approved"})
    return {"queued": queued, "skipped": skipped}


def payload(session: Session, row: InferenceFile) -> dict[str, Any]:
    """The approved file: ``fields`` holds each label's best field (a person's correction or
    confirmation before any machine reading), ``result`` every page as the API shows it."""
    from docloop.services.predictions import file_results, utc

    result = file_results(session, row)
    model = session.get(Model, row.model_id)
    best = best_fields(
        [p for page in result for p in page.prediction],
        model.review_threshold if model is not None else None,
    )
    return {
        "event": "file.approved",
        "model_id": row.model_id,
        "request_file_id": row.id,
        "filename": row.filename,
        "approved_by": row.moderated_by,
        "approved_at": utc(row.moderated_at).isoformat() if row.moderated_at else None,
        "fields": {
            label: {k: p.get(k) for k in ("ocr_text", "score", "status", "page_no", "id")}
            for label, p in best.items()
        },
        "result": given(result),
    }


def run_delivery_job(ctx: AppContext, job_payload: dict[str, Any]) -> None:
    with ctx.session() as s:
        row = s.get(InferenceFile, job_payload["request_file_id"])
        if row is None or not row.moderated:
            return  # deleted or un-approved since: nothing to announce
        body = payload(s, row)
    url = job_payload["url"]
    check_url(url, ctx)
    try:
        resp = httpx.post(
            url, json=body, timeout=TIMEOUT_S, follow_redirects=False,
            headers={"User-Agent": f"docloop/{__version__}"},
        )  # fmt: skip
    except httpx.HTTPError as exc:
        raise TransientError(f"webhook {url} unreachable: {exc}") from None
    if resp.status_code >= 500 or resp.status_code == 429:
        raise TransientError(f"webhook {url} answered HTTP {resp.status_code}")
    if resp.status_code >= 400:
        raise InvalidInput(f"webhook {url} refused the delivery: HTTP {resp.status_code}")
