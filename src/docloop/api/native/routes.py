"""Native routes: resource-shaped URLs over the same services the v2 adapter uses."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from docloop.api import bodies
from docloop.api.deps import CtxDep
from docloop.api.forms import list_field, parse_body
from docloop.api.native import responses as r
from docloop.api.permissions import (
    Annotator,
    DataEditor,
    ModelAdmin,
    Predictor,
    Reviewer,
    Trainer,
    Viewer,
)
from docloop.api.responses import (
    JPEG,
    Assigned,
    ErrorResponse,
    Page,
    TypedRouter,
    binary,
    error_responses,
)
from docloop.domain import Box
from docloop.errors import InvalidInput
from docloop.services import (
    active_learning,
    annotation,
    dataset_versions,
    datasets,
    exports,
    kpis,
    model_versions,
    models,
    monitoring,
    predictions,
    review,
    review_queue,
    review_time,
    routing,
    runs,
    training,
    transcriptions,
)
from docloop.services.models import ModelInfo
from docloop.views import given

# Answers that are not JSON: a CSV table of the KPIs, an export's file.
KPI_CSV = binary("The figures, or with format=csv one table as CSV.", "text/csv")
EXPORT_FILE = binary("The export's file.", *exports.FORMATS.values())
FILE_ERRORS = error_responses(ErrorResponse, (413, 415))  # of the routes that take files
router = TypedRouter(prefix="/api/v1", tags=["native"], responses=error_responses(ErrorResponse))


class ModelCreate(BaseModel):
    labels: list[str] = Field(min_length=1, description="Field names the model extracts.")
    name: str | None = None


def _jpeg(data: bytes) -> Response:
    """A page image; private (it is the user's document) but cacheable while they work."""
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


def _model(m: ModelInfo) -> dict[str, Any]:
    out = asdict(m)
    out["state"] = int(m.state)
    out["categories"] = [{"name": n, "count": c} for n, c in m.categories]
    return out


@router.post("/models", status_code=201, response_model=r.Model)
async def create_model(body: ModelCreate, ctx: CtxDep, who: ModelAdmin) -> dict[str, Any]:
    info = await run_in_threadpool(
        models.create_model, ctx, who, categories=body.labels, name=body.name
    )
    return _model(info)


@router.get("/models", response_model=list[r.Model])
async def list_models(ctx: CtxDep, who: Viewer) -> list[dict[str, Any]]:
    return [_model(m) for m in await run_in_threadpool(models.list_models, ctx, who)]


@router.get("/models/{model_id}", response_model=r.Model)
async def get_model(model_id: str, ctx: CtxDep, who: Viewer) -> dict[str, Any]:
    return _model(await run_in_threadpool(models.get_model, ctx, who, model_id))


@router.post(
    "/models/{model_id}/files",
    status_code=201,
    response_model=r.UploadedFiles,
    responses=FILE_ERRORS,
    openapi_extra=bodies.NATIVE_UPLOAD,
)
async def upload(model_id: str, request: Request, ctx: CtxDep, who: DataEditor) -> dict[str, Any]:
    """Multipart ``file`` parts plus ``annotations`` (the v2 ``data`` shape), or JSON ``urls``."""
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    annotations = body.fields.get("annotations", body.fields.get("data"))
    if body.files:
        stored = await run_in_threadpool(
            datasets.add_files, ctx, who, model_id, body.files, annotations
        )
    else:
        stored = await run_in_threadpool(
            datasets.add_urls, ctx, who, model_id, list_field(body, "urls"), annotations
        )
    return {"files": stored}


@router.get("/models/{model_id}/files", response_model=list[r.TrainingFile])
async def list_training_files(
    model_id: str, ctx: CtxDep, who: Annotator
) -> list[annotation.TrainingFileView]:
    """The model's training files with their annotations (uploaded or from approved reviews)."""
    return await run_in_threadpool(annotation.list_files, ctx, who, model_id)


@router.get("/models/{model_id}/annotation-queue", response_model=list[active_learning.ToAnnotate])
async def annotation_queue(
    model_id: str,
    ctx: CtxDep,
    who: Annotator,
    n: int = Query(25, ge=1, le=active_learning.MAX_BATCH),
) -> list[active_learning.ToAnnotate]:
    """The ``n`` training files without annotations most useful to annotate next, as the
    served model sees them (its doubt, and how unlike its training pages they look), spread
    over kinds of page; 409 until the model is trained."""
    found = await run_in_threadpool(active_learning.next_to_annotate, ctx, who, model_id, n)
    return found


@router.get("/models/{model_id}/files/{file_id}", response_model=r.TrainingFile)
async def get_training_file(
    model_id: str, file_id: str, ctx: CtxDep, who: Annotator
) -> annotation.TrainingFileView:
    return await run_in_threadpool(annotation.get_file, ctx, who, model_id, file_id)


class Annotations(BaseModel):
    object: list[dict[str, Any]] = Field(description="The Nanonets upload shape, per field.")


@router.put("/models/{model_id}/files/{file_id}/annotations", response_model=r.TrainingFile)
async def set_annotations(
    model_id: str, file_id: str, body: Annotations, ctx: CtxDep, who: Annotator
) -> annotation.TrainingFileView:
    return await run_in_threadpool(
        annotation.set_annotations, ctx, who, model_id, file_id, body.object
    )


class Transcription(BaseModel):
    lines: list[dict[str, Any]] = Field(
        description="Every printed line: text, bndbox (xmin, ymin, xmax, ymax) and page."
    )


@router.get("/models/{model_id}/files/{file_id}/transcription", response_model=r.FileTranscription)
async def get_transcription(
    model_id: str, file_id: str, ctx: CtxDep, who: Annotator
) -> transcriptions.Transcription:
    return await run_in_threadpool(transcriptions.get, ctx, who, model_id, file_id)


@router.put("/models/{model_id}/files/{file_id}/transcription", response_model=r.FileTranscription)
async def set_transcription(
    model_id: str, file_id: str, body: Transcription, ctx: CtxDep, who: Annotator
) -> transcriptions.Transcription:
    """Optional training data: the tagger also learns from the page as transcribed."""
    return await run_in_threadpool(transcriptions.put, ctx, who, model_id, file_id, body.lines)


@router.delete(
    "/models/{model_id}/files/{file_id}/transcription", response_model=r.FileTranscription
)
async def delete_transcription(
    model_id: str, file_id: str, ctx: CtxDep, who: Annotator
) -> transcriptions.Transcription:
    return await run_in_threadpool(transcriptions.delete, ctx, who, model_id, file_id)


@router.post("/models/{model_id}/files/{file_id}/preannotation", response_model=r.Preannotation)
async def preannotate(
    model_id: str, file_id: str, ctx: CtxDep, who: Annotator
) -> annotation.Preannotation:
    """Suggested annotations (not saved): the model's predictions, or OCR lines without one."""
    return await run_in_threadpool(annotation.preannotate, ctx, who, model_id, file_id)


@router.get(
    "/models/{model_id}/files/{file_id}/pages/{page}/image",
    response_class=Response,
    responses=JPEG,
)
async def training_page_image(
    model_id: str, file_id: str, page: int, ctx: CtxDep, who: Annotator
) -> Response:
    data = await run_in_threadpool(annotation.page_image, ctx, who, model_id, file_id, page)
    return _jpeg(data)


@router.get("/models/{model_id}/files/{file_id}/pages/{page}/text", response_model=r.TextUnder)
async def training_text_under(
    model_id: str, file_id: str, page: int, ctx: CtxDep, who: Annotator,
    xmin: float, ymin: float, xmax: float, ymax: float,
) -> dict[str, str]:  # fmt: skip
    box = Box(xmin, ymin, xmax, ymax)
    text = await run_in_threadpool(annotation.text_under, ctx, who, model_id, file_id, page, box)
    return {"text": text}


@router.post("/models/{model_id}/train", status_code=202, response_model=r.Model)
async def train(model_id: str, ctx: CtxDep, who: Trainer, force: bool = False) -> dict[str, Any]:
    """Queue a training; ``force`` serves the new version even if it validates worse."""
    return _model(
        await run_in_threadpool(training.request_training, ctx, who, model_id, force=force)
    )


@router.get("/models/{model_id}/runs", response_model=list[r.RunSummary])
async def list_runs(model_id: str, ctx: CtxDep, who: Trainer) -> list[runs.RunSummary]:
    """The model's trainings, newest first, with their outcome and headline figures."""
    return await run_in_threadpool(runs.list_runs, ctx, who, model_id)


@router.get("/runs/compare", response_model=r.RunComparison)
async def compare_runs(ids: str, ctx: CtxDep, who: Trainer) -> runs.RunComparison:
    """Parameters and figures of comma-separated run ids side by side."""
    return await run_in_threadpool(runs.compare, ctx, who, [i for i in ids.split(",") if i])


@router.get("/runs/{run_id}", response_model=r.RunDetail, response_model_exclude_unset=True)
async def show_run(run_id: str, ctx: CtxDep, who: Trainer) -> dict[str, Any]:
    """One training: steps, validation report, MLflow parameters, figures and artifacts."""
    return given(await run_in_threadpool(runs.show_run, ctx, who, run_id))


class Promotion(BaseModel):
    version: int = Field(ge=1, description="The version number to serve.")


@router.put("/models/{model_id}/production", response_model=r.Model)
async def promote(model_id: str, body: Promotion, ctx: CtxDep, who: Trainer) -> dict[str, Any]:
    """Serve another version from now on (no downtime: requests in flight finish as they are)."""
    return _model(await run_in_threadpool(model_versions.promote, ctx, who, model_id, body.version))


@router.post("/models/{model_id}/production/rollback", response_model=r.Model)
async def rollback(model_id: str, ctx: CtxDep, who: Trainer) -> dict[str, Any]:
    """Serve again the version the current one replaced."""
    return _model(await run_in_threadpool(model_versions.rollback, ctx, who, model_id))


@router.get(
    "/models/{model_id}/production/history",
    response_model=list[model_versions.ProductionChangeView],
)
async def production_history(
    model_id: str, ctx: CtxDep, who: Trainer
) -> list[model_versions.ProductionChangeView]:
    return await run_in_threadpool(model_versions.history, ctx, who, model_id)


@router.post(
    "/models/{model_id}/predictions",
    response_model=r.PredictedPages | r.QueuedPredictions,
    responses=FILE_ERRORS,
    openapi_extra=bodies.NATIVE_PREDICT,
)
async def predict(
    model_id: str, request: Request, ctx: CtxDep, who: Predictor, wait: bool = True
) -> dict[str, Any]:
    """Predict on uploaded files (``wait=false`` queues them and returns their ids)."""
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    meta = body.fields.get("request_metadata")
    if not wait:
        return {
            "queued": await run_in_threadpool(
                predictions.submit_async, ctx, who, model_id, body.files, meta
            )
        }
    if body.files:
        pages = await run_in_threadpool(
            predictions.predict_files, ctx, who, model_id, body.files, meta
        )
    else:
        pages = await run_in_threadpool(
            predictions.predict_urls, ctx, who, model_id, list_field(body, "urls"), meta
        )
    return {"pages": given(pages)}


@router.get("/models/{model_id}/datasets", response_model=list[r.DatasetVersion])
async def list_dataset_versions(
    model_id: str, ctx: CtxDep, who: DataEditor
) -> list[dataset_versions.VersionSummary]:
    """The immutable dataset versions the model's trainings used, oldest first."""
    return await run_in_threadpool(dataset_versions.list_versions, ctx, who, model_id)


@router.get("/models/{model_id}/datasets/diff", response_model=r.DatasetDiff)
async def diff_dataset_versions(
    model_id: str, ctx: CtxDep, who: DataEditor, old: str, new: str
) -> dict[str, Any]:
    """Files added, removed and re-annotated between two dataset versions."""
    return given(await run_in_threadpool(dataset_versions.diff, ctx, who, model_id, old, new))


@router.get("/models/{model_id}/predictions", response_model=r.FilesByModeration)
async def list_predictions(
    model_id: str, ctx: CtxDep, who: Reviewer, start_day: int, end_day: int
) -> dict[str, Any]:
    return given(
        await run_in_threadpool(predictions.list_by_days, ctx, who, model_id, start_day, end_day)
    )


@router.get("/models/{model_id}/predictions/{file_id}", response_model=r.FileForReview)
async def get_prediction(model_id: str, file_id: str, ctx: CtxDep, who: Reviewer) -> dict[str, Any]:
    return given(
        await run_in_threadpool(predictions.get_file_for_review, ctx, who, model_id, file_id)
    )


def _queue_params(
    start: date | None = None,
    end: date | None = None,
    moderated: bool | None = None,
    label: str | None = None,
    below: float | None = None,
    sort: str = "created_at",
    order: str = "desc",
) -> tuple[review_queue.ReviewFilter, review_queue.QueueOrder]:
    """The queue's filters and sort order, shared by the list, a file's position and next."""
    return (
        review_queue.ReviewFilter(start, end, moderated, label or None, below),
        review_queue.QueueOrder(sort, order),
    )


QueueParams = Annotated[
    tuple[review_queue.ReviewFilter, review_queue.QueueOrder], Depends(_queue_params)
]


@router.get("/models/{model_id}/review", response_model=review_queue.QueuePage)
async def review_queue_page(
    model_id: str,
    ctx: CtxDep,
    who: Reviewer,
    params: QueueParams,
    limit: int = Query(review_queue.DEFAULT_LIMIT, ge=1, le=review_queue.MAX_LIMIT),
    cursor: str | None = None,
) -> review_queue.QueuePage:
    """One page of the processed files matching the filters, sorted by ``sort`` (``order``),
    with moderated / not moderated counts and cursors to the pages before and after."""
    found, order = params
    return await run_in_threadpool(
        lambda: review_queue.search(
            ctx, who, model_id, found, order, limit=limit, cursor=cursor or None
        )
    )


@router.get(
    "/models/{model_id}/review/{file_id}/position", response_model=review_queue.QueuePosition
)
async def review_position(
    model_id: str, file_id: str, ctx: CtxDep, who: Reviewer, params: QueueParams
) -> review_queue.QueuePosition:
    """ "File 3 of 9": the file's place in the filtered, sorted queue and its neighbours."""
    found, order = params
    return await run_in_threadpool(review_queue.position, ctx, who, model_id, file_id, found, order)


@router.get("/models/{model_id}/review/stats", response_model=review.ReviewStats)
async def review_stats(model_id: str, ctx: CtxDep, who: Reviewer) -> review.ReviewStats:
    """Automation rate (files approved without any correction / files processed) and more."""
    return await run_in_threadpool(review.stats, ctx, who, model_id)


@router.get("/kpis", response_model=r.KpiReport, responses=KPI_CSV)
async def kpis_figures(
    ctx: CtxDep,
    who: Reviewer,
    model_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    format: str = "json",
    table: str = "weeks",
) -> dict[str, Any] | Response:
    """ROI and KPI figures of the workspace (or of ``model_id``) per week from ``start`` to
    ``end``; ``format=csv`` gives one ``table`` (weeks, labels, monitoring, months, models)."""
    if format not in ("json", "csv"):
        raise InvalidInput("format must be json or csv")
    found = await run_in_threadpool(
        lambda: kpis.compute(ctx, who, model_id=model_id or None, start=start, end=end)
    )
    if format == "json":
        return given(found)
    return Response(
        kpis.to_csv(found, table), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="kpis-{table}.csv"'},
    )  # fmt: skip


@router.get("/models/{model_id}/monitoring", response_model=monitoring.MonitoringStatus)
async def monitoring_status(
    model_id: str, ctx: CtxDep, who: Reviewer
) -> monitoring.MonitoringStatus:
    """Drift and health figures over the monitoring window, thresholds and alert states."""
    return await run_in_threadpool(monitoring.status, ctx, who, model_id)


class RoutingSettings(BaseModel):
    threshold: float | None = Field(default=None, description="Straight-through confidence.")
    rules: dict[str, dict[str, Any]] | None = Field(default=None, description="Per label.")
    webhook_url: str | None = Field(default=None, description="Receives each approved file.")


@router.get("/models/{model_id}/routing", response_model=routing.Routing)
async def get_routing(model_id: str, ctx: CtxDep, who: Reviewer) -> routing.Routing:
    return await run_in_threadpool(routing.get_settings, ctx, who, model_id)


@router.put("/models/{model_id}/routing", response_model=routing.Routing)
async def set_routing(
    model_id: str, body: RoutingSettings, ctx: CtxDep, who: ModelAdmin
) -> routing.Routing:
    """Threshold and rules that decide which files skip review, and the webhook URL."""
    return await run_in_threadpool(
        lambda: routing.configure(
            ctx, who, model_id, threshold=body.threshold, rules=body.rules,
            webhook_url=body.webhook_url,
        )
    )  # fmt: skip


class Assignment(BaseModel):
    reviewer: str | None = Field(default=None, description="The reviewer's email, or null.")


@router.put("/models/{model_id}/predictions/{file_id}/assignee", response_model=Assigned)
async def assign(
    model_id: str, file_id: str, body: Assignment, ctx: CtxDep, who: Reviewer
) -> dict[str, Any]:
    return await run_in_threadpool(review.assign, ctx, who, model_id, file_id, body.reviewer)


class ExportRequest(BaseModel):
    format: str = Field(description="csv, json or xlsx")
    start: date
    end: date


@router.post("/models/{model_id}/exports", status_code=202, response_model=exports.ExportView)
async def request_export(
    model_id: str, body: ExportRequest, ctx: CtxDep, who: Reviewer
) -> exports.ExportView:
    """Build a download of the extracted fields in the background; poll it, then fetch it."""
    return await run_in_threadpool(
        exports.request_export, ctx, who, model_id, body.format, body.start, body.end
    )


@router.get("/exports/{export_id}", response_model=exports.ExportView)
async def get_export(export_id: str, ctx: CtxDep, who: Reviewer) -> exports.ExportView:
    return await run_in_threadpool(exports.get_export, ctx, who, export_id)


@router.get("/exports/{export_id}/file", response_class=Response, responses=EXPORT_FILE)
async def download_export(export_id: str, ctx: CtxDep, who: Reviewer) -> Response:
    data, media_type, name = await run_in_threadpool(exports.download, ctx, who, export_id)
    return Response(
        data, media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


@router.get("/models/{model_id}/review/next", response_model=r.NextFile)
async def review_next(
    model_id: str,
    ctx: CtxDep,
    who: Reviewer,
    current: str = "",
    start: date | None = None,
    end: date | None = None,
    moderated: bool | None = False,
    label: str | None = None,
    below: float | None = None,
    sort: str = "created_at",
    order: str = "desc",
) -> dict[str, str | None]:
    """The file after ``current`` in the queue's order (by default the files waiting for
    review, newest first), or its first file; none when the queue is empty."""
    found = review_queue.ReviewFilter(start, end, moderated, label or None, below)
    walk = review_queue.QueueOrder(sort, order)
    return {
        "next": await run_in_threadpool(
            review_queue.next_file, ctx, who, model_id, current, found, walk
        )
    }


@router.get(
    "/models/{model_id}/predictions/{file_id}/pages/{page}/image",
    response_class=Response,
    responses=JPEG,
)
async def page_image(
    model_id: str,
    file_id: str,
    page: int,
    ctx: CtxDep,
    who: Reviewer,
    max_side: int | None = Query(None, description="Scale to fit (a thumbnail), in pixels."),
) -> Response:
    data = await run_in_threadpool(review.page_image, ctx, who, model_id, file_id, page, max_side)
    return _jpeg(data)


@router.get(
    "/models/{model_id}/predictions/{file_id}/pages/{page}/text", response_model=r.TextUnder
)
async def text_under(
    model_id: str, file_id: str, page: int, ctx: CtxDep, who: Reviewer,
    xmin: float, ymin: float, xmax: float, ymax: float,
) -> dict[str, str]:  # fmt: skip
    """The OCR text inside a box: what a box drawn by a reviewer is prefilled with."""
    box = Box(xmin, ymin, xmax, ymax)
    text = await run_in_threadpool(review.text_under, ctx, who, model_id, file_id, page, box)
    return {"text": text}


@router.get("/models/{model_id}/predictions/{file_id}/changes", response_model=list[r.Change])
async def prediction_changes(
    model_id: str, file_id: str, ctx: CtxDep, who: Reviewer
) -> list[dict[str, Any]]:
    """Every change made to the file's predictions, with who made it and when."""
    return await run_in_threadpool(review.changes, ctx, who, model_id, file_id)


class Approval(BaseModel):
    review_seconds: float | None = Field(
        default=None, ge=0, description="Seconds the reviewer spent on the file (the editor's)."
    )


@router.put("/models/{model_id}/predictions/{file_id}/approval", response_model=r.ApprovedFile)
async def approve(
    model_id: str, file_id: str, ctx: CtxDep, who: Reviewer, body: Approval | None = None
) -> dict[str, Any]:
    """Approve the file; ``review_seconds`` adds to the file's measured review time."""
    approved = await run_in_threadpool(predictions.set_moderated, ctx, who, model_id, file_id, True)
    if body is not None and body.review_seconds is not None:
        await run_in_threadpool(
            review_time.record, ctx, who, model_id, file_id, body.review_seconds
        )
    return given(approved)


@router.delete("/models/{model_id}/predictions/{file_id}/approval", response_model=r.ApprovedFile)
async def unapprove(model_id: str, file_id: str, ctx: CtxDep, who: Reviewer) -> dict[str, Any]:
    return given(
        await run_in_threadpool(predictions.set_moderated, ctx, who, model_id, file_id, False)
    )


@router.put(
    "/models/{model_id}/predictions/{file_id}/pages/{page_id}",
    response_model=Page,
    openapi_extra=bodies.NATIVE_CORRECTED_PAGE,
)
async def correct_page(
    model_id: str, file_id: str, page_id: str, request: Request, ctx: CtxDep, who: Reviewer
) -> dict[str, Any]:
    body = await parse_body(request, ctx.settings.max_upload_bytes)
    fields = {**body.fields, "id": page_id, "request_file_id": file_id}
    return given(await run_in_threadpool(predictions.update_page, ctx, who, model_id, fields))


@router.delete("/models/{model_id}/predictions/{file_id}", status_code=204)
async def delete_prediction(model_id: str, file_id: str, ctx: CtxDep, who: Reviewer) -> None:
    await run_in_threadpool(predictions.delete_file, ctx, who, model_id, file_id)
