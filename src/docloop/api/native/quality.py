"""Native routes of annotation quality control: second reviews (the assignee's queue and their
decision), each model's sampled share, and the agreement and annotator figures."""

from __future__ import annotations

from datetime import date

from fastapi import Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from docloop.api import bodies
from docloop.api.deps import CtxDep
from docloop.api.forms import parse_body
from docloop.api.permissions import ModelAdmin, Reviewer
from docloop.api.responses import ErrorResponse, TypedRouter, error_responses
from docloop.services import quality, second_review

router = TypedRouter(prefix="/api/v1", tags=["quality"], responses=error_responses(ErrorResponse))


class Share(BaseModel):
    share: float | None = Field(
        default=None, ge=0, le=1,
        description="Share of each reviewer's approved files sent to a second reviewer "
        "(None: the configured default).",
    )  # fmt: skip


@router.put("/models/{model_id}/second-review", response_model=second_review.Share)
async def set_share(
    model_id: str, body: Share, ctx: CtxDep, who: ModelAdmin
) -> second_review.Share:
    return await run_in_threadpool(second_review.set_share, ctx, who, model_id, body.share)


@router.get("/second-reviews", response_model=list[second_review.SecondReviewView])
async def second_reviews(
    ctx: CtxDep, who: Reviewer, decided: bool = False
) -> list[second_review.SecondReviewView]:
    """The caller's open second reviews (``decided=true``: those they submitted), each with
    the fields the model predicted and never the first reviewer's decision."""
    return await run_in_threadpool(second_review.queue, ctx, who, decided)


@router.get("/second-reviews/{review_id}", response_model=second_review.SecondReviewItem)
async def second_review_item(
    review_id: str, ctx: CtxDep, who: Reviewer
) -> second_review.SecondReviewItem:
    """One of the caller's second reviews, for the blind editor: the fields the model predicted
    (each saying whether it is a doubted ``alternative``) and each page's size."""
    return await run_in_threadpool(second_review.get, ctx, who, review_id)


@router.put(
    "/second-reviews/{review_id}",
    response_model=second_review.SecondReviewView,
    openapi_extra=bodies.SECOND_REVIEW,
)
async def submit_second_review(
    review_id: str, request: Request, ctx: CtxDep, who: Reviewer
) -> second_review.SecondReviewView:
    """The second reviewer's fields: ``{"fields": [{"page", "label", "ocr_text", "xmin", ...}]}``
    (the box as ``xmin``...``ymax`` or a ``bndbox``)."""
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    return await run_in_threadpool(second_review.submit, ctx, who, review_id, body.fields)


@router.get("/quality", response_model=quality.QualityReport)
async def quality_figures(
    ctx: CtxDep,
    who: Reviewer,
    model_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> quality.QualityReport:
    """Agreement per label between first and second reviewers (total and per week) and each
    reviewer's figures with outliers flagged, for the workspace or ``model_id``."""
    return await run_in_threadpool(
        lambda: quality.compute(ctx, who, model_id=model_id or None, start=start, end=end)
    )
