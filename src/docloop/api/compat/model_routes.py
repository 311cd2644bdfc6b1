"""The v2 calls under ``/{family}/``: models, training data, training and prediction.

Each call that acts on a model is served twice: with the model id in the path
(``/{family}/Model/{model_id}/LabelFile/``) and, as older Nanonets clients send it, without
(``/{family}/LabelFile/``) with ``modelId`` as a query parameter or a form part.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from docloop.api import bodies
from docloop.api.compat import responses as v2
from docloop.api.compat.paths import both_slashes, flag
from docloop.api.compat.schemas import (
    annotations_object,
    label_page,
    model_object,
    queued_page,
)
from docloop.api.compat.uploads import incoming_files
from docloop.api.deps import CtxDep
from docloop.api.forms import ParsedBody, list_field, parse_body
from docloop.api.permissions import Annotator, ModelAdmin, Needs, Viewer
from docloop.api.responses import TypedRouter
from docloop.errors import InvalidInput
from docloop.services import annotation, datasets, models, predictions, training
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.predictions import PageView
from docloop.views import given

router = TypedRouter()
FAMILIES = ("OCR", "ObjectDetection")

Action = Callable[[AppContext, Principal, str, ParsedBody, Request], Awaitable[Any]]


def _family(family: str) -> None:
    if family not in FAMILIES:
        raise InvalidInput(f"unknown model family {family!r}: use OCR or ObjectDetection")


def _metadata(fields: dict[str, Any]) -> str | None:
    value = fields.get("request_metadata")
    return None if value is None else str(value)[:10000]


def _alternatives(request: Request, body: ParsedBody) -> bool:
    """``include_alternatives``: also return the readings the model doubted (docloop's own)."""
    return flag(request.query_params.get("include_alternatives", "")) or flag(
        body.fields.get("include_alternatives", "")
    )


@both_slashes(
    router,
    "POST",
    "/{family}/Model/",
    response_model=v2.V2Model,
    openapi_extra=bodies.V2_CREATE_MODEL,
)
async def create_model(
    family: str, request: Request, ctx: CtxDep, who: ModelAdmin
) -> dict[str, Any]:
    _family(family)
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    info = await run_in_threadpool(
        models.create_model, ctx, who, categories=list_field(body, "categories"),
        model_type=str(body.fields.get("model_type") or "ocr"), name=body.fields.get("name"),
    )  # fmt: skip
    return model_object(info)


@both_slashes(router, "GET", "/{family}/Model/{model_id}", response_model=v2.V2Model)
async def get_model(family: str, model_id: str, ctx: CtxDep, who: Viewer) -> dict[str, Any]:
    _family(family)
    return model_object(await run_in_threadpool(models.get_model, ctx, who, model_id))


async def list_models(
    family: str, request: Request, ctx: CtxDep, who: Viewer
) -> list[dict[str, Any]] | dict[str, Any]:
    """Every model of the workspace; with ``?modelId=`` that one model, as older clients ask."""
    _family(family)
    wanted = request.query_params.get("modelId")
    if wanted:
        return model_object(await run_in_threadpool(models.get_model, ctx, who, wanted))
    return [model_object(m) for m in await run_in_threadpool(models.list_models, ctx, who)]


MODELS = list[v2.V2Model] | v2.V2Model
both_slashes(router, "GET", "/{family}/Model/", response_model=MODELS)(list_models)
both_slashes(router, "GET", "/{family}/Models/", response_model=MODELS)(list_models)


@both_slashes(
    router, "GET", "/{family}/Model/{model_id}/Annotations", response_model=v2.V2Annotations
)
async def annotations(family: str, model_id: str, ctx: CtxDep, who: Annotator) -> dict[str, Any]:
    _family(family)
    files = await run_in_threadpool(annotation.list_files, ctx, who, model_id)
    info = await run_in_threadpool(models.get_model, ctx, who, model_id)
    return annotations_object(info, files)


async def _upload_file(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    stored = await run_in_threadpool(
        datasets.add_files, ctx, who, model_id, incoming_files(body), body.fields.get("data")
    )
    return {"message": "Success", "model_id": model_id, "files": stored}


async def _upload_urls(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    stored = await run_in_threadpool(
        datasets.add_urls, ctx, who, model_id, list_field(body, "urls"), body.fields.get("data")
    )
    return {"message": "Success", "model_id": model_id, "files": stored}


async def _train(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    return model_object(await run_in_threadpool(training.request_training, ctx, who, model_id))


async def _label_file(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    if flag(body.fields.get("async", "")):
        return await _label_file_async(ctx, who, model_id, body, request)
    result = await run_in_threadpool(
        predictions.predict_files, ctx, who, model_id, incoming_files(body), _metadata(body.fields)
    )
    return _labelled(result, _alternatives(request, body))


async def _label_urls(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    if flag(body.fields.get("async", "")):
        return await _label_urls_async(ctx, who, model_id, body, request)
    result = await run_in_threadpool(
        predictions.predict_urls, ctx, who, model_id, list_field(body, "urls"),
        _metadata(body.fields),
    )  # fmt: skip
    return _labelled(result, _alternatives(request, body))


async def _label_file_async(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    queued = await run_in_threadpool(
        predictions.submit_async, ctx, who, model_id, incoming_files(body), _metadata(body.fields)
    )
    return {"message": "Success", "result": [queued_page(q) for q in queued]}


async def _label_urls_async(
    ctx: AppContext, who: Principal, model_id: str, body: ParsedBody, request: Request
) -> dict[str, Any]:
    queued = await run_in_threadpool(
        predictions.submit_async_urls, ctx, who, model_id, list_field(body, "urls"),
        _metadata(body.fields),
    )  # fmt: skip
    return {"message": "Success", "result": [queued_page(q) for q in queued]}


def _labelled(pages: list[PageView], include_alternatives: bool) -> dict[str, Any]:
    return {
        "message": "Success",
        "result": [label_page(p, include_alternatives) for p in given(pages)],
        "signed_urls": {},
    }


def _with_model_id(action: Action, permission: str) -> Callable[..., Awaitable[Any]]:
    async def endpoint(
        family: str,
        model_id: str,
        request: Request,
        ctx: CtxDep,
        who: Principal = Depends(Needs(permission)),  # noqa: B008 (FastAPI's idiom)
    ) -> Any:
        _family(family)
        body = await parse_body(request, ctx.settings.max_upload_bytes)
        return await action(ctx, who, model_id, body, request)

    endpoint.__doc__ = action.__doc__
    return endpoint


def _by_model_id_field(action: Action, permission: str) -> Callable[..., Awaitable[Any]]:
    async def endpoint(
        family: str,
        request: Request,
        ctx: CtxDep,
        who: Principal = Depends(Needs(permission)),  # noqa: B008 (FastAPI's idiom)
    ) -> Any:
        _family(family)
        body = await parse_body(request, ctx.settings.max_upload_bytes)
        model_id = request.query_params.get("modelId") or body.fields.get("modelId")
        if not isinstance(model_id, str) or not model_id.strip():
            raise InvalidInput(
                "modelId is missing: give it in the path (/Model/{model_id}/...), "
                "as a query parameter or as a form field"
            )
        return await action(ctx, who, model_id.strip(), body, request)

    return endpoint


# Each call with the permission it needs (``services/users.PERMISSIONS``) and its answer
# (LabelFile and LabelUrls answer like their Async twin when the body sets ``async``).
LABELLED = v2.V2Prediction | v2.V2Queued
ACTIONS: dict[str, tuple[Action, str, Any]] = {
    "UploadFile": (_upload_file, "data", v2.V2Upload),
    "UploadUrls": (_upload_urls, "data", v2.V2Upload),
    "Train": (_train, "train", v2.V2Model),
    "LabelFile": (_label_file, "predict", LABELLED),
    "LabelUrls": (_label_urls, "predict", LABELLED),
    "LabelFile/Async": (_label_file_async, "predict", v2.V2Queued),
    "LabelUrls/Async": (_label_urls_async, "predict", v2.V2Queued),
}
# Request bodies of the calls that read their body by hand, for the OpenAPI document.
BODIES = {
    "UploadFile": bodies.V2_UPLOAD_FILE,
    "UploadUrls": bodies.V2_UPLOAD_URLS,
    "LabelFile": bodies.V2_LABEL_FILE,
    "LabelUrls": bodies.V2_LABEL_URLS,
    "LabelFile/Async": bodies.V2_LABEL_FILE,
    "LabelUrls/Async": bodies.V2_LABEL_URLS,
}
for _name, (_action, _permission, _answer) in ACTIONS.items():
    _extra = {"response_model": _answer}
    if _name in BODIES:
        _extra["openapi_extra"] = BODIES[_name]
    both_slashes(router, "POST", f"/{{family}}/Model/{{model_id}}/{_name}/", **_extra)(
        _with_model_id(_action, _permission)
    )
    both_slashes(router, "POST", f"/{{family}}/{_name}/", **_extra)(
        _by_model_id_field(_action, _permission)
    )
