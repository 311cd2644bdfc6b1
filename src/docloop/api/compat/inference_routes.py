"""The v2 calls on stored predictions: retrieval, moderation, assignment and export retries."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from docloop.api import bodies
from docloop.api.compat import responses as v2
from docloop.api.compat.paths import both_slashes, flag
from docloop.api.compat.schemas import label_page, moderated_listing
from docloop.api.deps import CtxDep
from docloop.api.forms import list_field, parse_body
from docloop.api.permissions import Predictor, Reviewer
from docloop.api.responses import TypedRouter
from docloop.errors import InvalidInput, NotFound
from docloop.services import predictions, review, webhooks
from docloop.services.predictions import FileView
from docloop.views import given

router = TypedRouter()
MESSAGES = {"done": "Success", "pending": "Pending", "failed": "Failed"}


def _alternatives(request: Request) -> bool:
    return flag(request.query_params.get("include_alternatives", ""))


def _file_answer(model_id: str, file: FileView, include: bool) -> dict[str, Any]:
    """docloop's file view (``status``, ``result`` pages) and Nanonets' retrieval shape in one."""
    view = given(file)
    pages = [label_page(p, include) for p in view["result"]]
    return {
        "message": MESSAGES[view["status"]],
        **view,
        "result": pages,
        **moderated_listing(model_id, [view], include),
    }


# The second path is an older spelling of the same call, still in Nanonets' published examples.
@both_slashes(
    router,
    "GET",
    "/Inferences/Model/{model_id}/InferenceRequestFiles/GetPredictions/{request_file_id}",
    response_model=v2.V2File,
)
@both_slashes(
    router,
    "GET",
    "/Inferences/Model/{model_id}/InferenceRequest/{request_file_id}",
    response_model=v2.V2File,
)
async def inference_request(
    model_id: str, request_file_id: str, request: Request, ctx: CtxDep, who: Predictor
) -> dict[str, Any]:
    view = await run_in_threadpool(predictions.get_file, ctx, who, model_id, request_file_id)
    return _file_answer(model_id, view, _alternatives(request))


@both_slashes(
    router,
    "GET",
    "/Inferences/Model/{model_id}/InferenceRequest/{request_file_id}/page/{page_id}",
    response_model=v2.V2File,
)
async def inference_page(
    model_id: str,
    request_file_id: str,
    page_id: str,
    request: Request,
    ctx: CtxDep,
    who: Predictor,
) -> dict[str, Any]:
    """One page of a file, by its id (or its number, counted from 0)."""
    view = await run_in_threadpool(predictions.get_file, ctx, who, model_id, request_file_id)
    pages = [p for p in view.result if page_id in (p.id, str(p.page))]
    if not pages:
        raise NotFound(f"file {request_file_id} has no page {page_id!r}")
    return _file_answer(model_id, replace(view, result=pages), _alternatives(request))


async def _listing(
    model_id: str,
    request: Request,
    ctx: CtxDep,
    who: Reviewer,
    start_day_interval: int,
    current_batch_day: int,
) -> dict[str, Any]:
    """Files predicted from day ``start_day_interval`` to ``current_batch_day`` (days since
    1970-01-01 UTC, both included), one item per page."""
    listing = await run_in_threadpool(
        predictions.list_by_days, ctx, who, model_id, start_day_interval, current_batch_day
    )
    views = given(listing.moderated + listing.unmoderated)
    return moderated_listing(model_id, views, _alternatives(request))


for _path in ("/InferenceRequest/", "/ImageLevelInferences"):
    both_slashes(
        router, "GET", "/Inferences/Model/{model_id}" + _path, response_model=v2.V2Listing
    )(_listing)


async def _verify(model_id: str, request_file_id: str, ctx: CtxDep, who: Reviewer) -> Any:
    """Approve a file: it becomes training data and is exported to the model's webhook."""
    view = await run_in_threadpool(
        predictions.set_moderated, ctx, who, model_id, request_file_id, True
    )
    return {"message": "Success", **given(view)}


async def _unverify(model_id: str, request_file_id: str, ctx: CtxDep, who: Reviewer) -> Any:
    view = await run_in_threadpool(
        predictions.set_moderated, ctx, who, model_id, request_file_id, False
    )
    return {"message": "Success", **given(view)}


# The reference names the path both ways round; both are served.
for _prefix in (
    "/ImageLevelInferences/Model/{model_id}",
    "/Inferences/Model/{model_id}/ImageLevelInferences",
):
    both_slashes(
        router, "POST", _prefix + "/Verify/{request_file_id}", response_model=v2.V2Verified
    )(_verify)
    both_slashes(
        router, "POST", _prefix + "/UnVerify/{request_file_id}", response_model=v2.V2Verified
    )(_unverify)


@both_slashes(
    router,
    "PATCH",
    "/Inferences/Model/{model_id}/ImageLevelInference",
    response_model=v2.V2Page,
    openapi_extra=bodies.V2_CORRECTED_PAGE,
)
async def patch_page(model_id: str, request: Request, ctx: CtxDep, who: Reviewer) -> dict[str, Any]:
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    page = await run_in_threadpool(predictions.update_page, ctx, who, model_id, body.fields)
    return {"message": "Success", "result": [given(page)]}


@both_slashes(
    router,
    "DELETE",
    "/Inferences/Model/{model_id}/InferenceRequestFiles/{file_id}",
    response_model=v2.V2Deleted,
)
async def delete_file(model_id: str, file_id: str, ctx: CtxDep, who: Reviewer) -> Any:
    await run_in_threadpool(predictions.delete_file, ctx, who, model_id, file_id)
    return {"message": "Success", "request_file_id": file_id}


@both_slashes(
    router,
    "POST",
    "/team/members/model/{model_id}/assign/files",
    response_model=v2.V2Assigned,
    openapi_extra=bodies.V2_ASSIGN,
)
async def assign_files(
    model_id: str, request: Request, ctx: CtxDep, who: Reviewer
) -> dict[str, Any]:
    """Put files in a reviewer's queue: ``member`` (an e-mail) and ``file_ids``."""
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    member = body.fields.get("member")
    file_ids = list_field(body, "file_ids")
    if not isinstance(member, str) or not member.strip():
        raise InvalidInput("member is missing: the e-mail of the person to assign the files to")
    if not file_ids or not all(isinstance(f, str) for f in file_ids):
        raise InvalidInput("file_ids must be a non-empty list of request_file_ids")
    assigned = [
        await run_in_threadpool(review.assign, ctx, who, model_id, f, member) for f in file_ids
    ]
    return {"message": "Success", "member": member.strip().lower(), "result": assigned}


@both_slashes(
    router,
    "POST",
    "/Inferences/Model/{model_id}/ImageLevelInferences/retryallexports",
    response_model=v2.V2Retried,
    openapi_extra=bodies.V2_RETRY_EXPORTS,
)
async def retry_exports(
    model_id: str, request: Request, ctx: CtxDep, who: Reviewer
) -> dict[str, Any]:
    """Export approved files to the model's webhook again: ``file_ids``, or without them every
    file whose export failed."""
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    file_ids = list_field(body, "file_ids") if "file_ids" in body.fields else None
    if file_ids is not None and not all(isinstance(f, str) for f in file_ids):
        raise InvalidInput("file_ids must be a list of request_file_ids")
    result = await run_in_threadpool(webhooks.retry, ctx, who, model_id, file_ids)
    return {"message": "Success", **result}
