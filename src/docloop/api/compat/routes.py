"""The v2 routes. Each one: authenticate, parse the Nanonets request, call a service, shape JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from docloop.api.compat.schemas import listed_file, model_object
from docloop.api.deps import CtxDep
from docloop.api.forms import list_field, parse_body
from docloop.api.permissions import DataEditor, ModelAdmin, Predictor, Reviewer, Trainer, Viewer
from docloop.errors import InvalidInput
from docloop.services import datasets, models, predictions, training

router = APIRouter(prefix="/api/v2", tags=["nanonets-v2"])
FAMILIES = ("OCR", "ObjectDetection")


def _family(family: str) -> None:
    if family not in FAMILIES:
        raise InvalidInput(f"unknown model family {family!r}: use OCR or ObjectDetection")


@router.post("/{family}/Model/")
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


@router.get("/{family}/Model/{model_id}")
async def get_model(family: str, model_id: str, ctx: CtxDep, who: Viewer) -> dict[str, Any]:
    _family(family)
    return model_object(await run_in_threadpool(models.get_model, ctx, who, model_id))


@router.get("/{family}/Model/")
@router.get("/{family}/Models/")
async def list_models(family: str, ctx: CtxDep, who: Viewer) -> list[dict[str, Any]]:
    _family(family)
    return [model_object(m) for m in await run_in_threadpool(models.list_models, ctx, who)]


@router.post("/{family}/Model/{model_id}/UploadFile/")
async def upload_file(
    family: str, model_id: str, request: Request, ctx: CtxDep, who: DataEditor
) -> dict[str, Any]:
    _family(family)
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    stored = await run_in_threadpool(
        datasets.add_files, ctx, who, model_id, body.files, body.fields.get("data")
    )
    return {"message": "Success", "model_id": model_id, "files": stored}


@router.post("/{family}/Model/{model_id}/UploadUrls/")
async def upload_urls(
    family: str, model_id: str, request: Request, ctx: CtxDep, who: DataEditor
) -> dict[str, Any]:
    _family(family)
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    stored = await run_in_threadpool(
        datasets.add_urls, ctx, who, model_id, list_field(body, "urls"), body.fields.get("data")
    )
    return {"message": "Success", "model_id": model_id, "files": stored}


@router.post("/{family}/Model/{model_id}/Train/")
async def train(family: str, model_id: str, ctx: CtxDep, who: Trainer) -> dict[str, Any]:
    _family(family)
    return model_object(await run_in_threadpool(training.request_training, ctx, who, model_id))


@router.post("/{family}/Model/{model_id}/LabelFile/")
async def label_file(
    family: str, model_id: str, request: Request, ctx: CtxDep, who: Predictor
) -> dict[str, Any]:
    _family(family)
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    result = await run_in_threadpool(
        predictions.predict_files, ctx, who, model_id, body.files, _metadata(body.fields)
    )
    return {"message": "Success", "result": result}


@router.post("/{family}/Model/{model_id}/LabelUrls/")
async def label_urls(
    family: str, model_id: str, request: Request, ctx: CtxDep, who: Predictor
) -> dict[str, Any]:
    _family(family)
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    result = await run_in_threadpool(
        predictions.predict_urls,
        ctx,
        who,
        model_id,
        list_field(body, "urls"),
        _metadata(body.fields),
    )
    return {"message": "Success", "result": result}


@router.post("/{family}/Model/{model_id}/LabelFile/Async/")
async def label_file_async(
    family: str, model_id: str, request: Request, ctx: CtxDep, who: Predictor
) -> dict[str, Any]:
    _family(family)
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    queued = await run_in_threadpool(
        predictions.submit_async, ctx, who, model_id, body.files, _metadata(body.fields)
    )
    return {"message": "Success", "result": queued}


@router.get("/Inferences/Model/{model_id}/InferenceRequest/{request_file_id}")
async def inference_request(
    model_id: str, request_file_id: str, ctx: CtxDep, who: Predictor
) -> dict[str, Any]:
    view = await run_in_threadpool(predictions.get_file, ctx, who, model_id, request_file_id)
    message = {"done": "Success", "pending": "Pending", "failed": "Failed"}[view["status"]]
    return {"message": message, **view}


@router.get("/Inferences/Model/{model_id}/ImageLevelInferences")
async def image_level_inferences(
    model_id: str, ctx: CtxDep, who: Reviewer, start_day_interval: int, current_batch_day: int
) -> dict[str, Any]:
    listing = await run_in_threadpool(
        predictions.list_by_days, ctx, who, model_id, start_day_interval, current_batch_day
    )
    return {
        "moderated_images_count": len(listing["moderated"]),
        "unmoderated_images_count": len(listing["unmoderated"]),
        "moderated_images": [listed_file(v) for v in listing["moderated"]],
        "unmoderated_images": [listed_file(v) for v in listing["unmoderated"]],
    }


@router.post("/ImageLevelInferences/Model/{model_id}/Verify/{request_file_id}")
async def verify(model_id: str, request_file_id: str, ctx: CtxDep, who: Reviewer) -> dict[str, Any]:
    view = await run_in_threadpool(
        predictions.set_moderated, ctx, who, model_id, request_file_id, True
    )
    return {"message": "Success", **view}


@router.post("/ImageLevelInferences/Model/{model_id}/UnVerify/{request_file_id}")
async def unverify(
    model_id: str, request_file_id: str, ctx: CtxDep, who: Reviewer
) -> dict[str, Any]:
    view = await run_in_threadpool(
        predictions.set_moderated, ctx, who, model_id, request_file_id, False
    )
    return {"message": "Success", **view}


@router.patch("/Inferences/Model/{model_id}/ImageLevelInference")
async def patch_page(model_id: str, request: Request, ctx: CtxDep, who: Reviewer) -> dict[str, Any]:
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    page = await run_in_threadpool(predictions.update_page, ctx, who, model_id, body.fields)
    return {"message": "Success", "result": [page]}


@router.delete("/Inferences/Model/{model_id}/InferenceRequestFiles/{request_file_id}")
async def delete_file(
    model_id: str, request_file_id: str, ctx: CtxDep, who: Reviewer
) -> dict[str, Any]:
    await run_in_threadpool(predictions.delete_file, ctx, who, model_id, request_file_id)
    return {"message": "Success", "request_file_id": request_file_id}


def _metadata(fields: dict[str, Any]) -> str | None:
    value = fields.get("request_metadata")
    return None if value is None else str(value)[:10000]
