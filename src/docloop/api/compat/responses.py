"""Response models of the Nanonets v2 API: the JSON shapes of Nanonets' reference (GUIDE §2),
field names included (``model_id``, ``ocr_text``, ``xmin``, ``message``, ``result``)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from docloop.api.responses import (
    PREDICTION_EXAMPLE,
    Assigned,
    Category,
    FileView,
    Page,
    Prediction,
    ResponseModel,
    Size,
    UploadedFile,
)


class V2Model(ResponseModel):
    """A model as Nanonets describes it: ``state`` an int, ``status`` a sentence."""

    model_id: str
    model_type: str
    state: int = Field(description="-1 failed, 0 created, 1 uploaded, 2 annotated, 3 queued, "
                       "4 training, 5 hosted (ready to predict).")  # fmt: skip
    status: str
    categories: list[Category]
    progress: float | None = Field(description="Training progress from 0 to 1 (docloop's).")
    eta_seconds: float | None
    version: int | None = Field(description="The version serving predictions (docloop's).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_id": "17cbb22a-3f0e-4c54-9d5e-2b8f1a0c9e77",
                    "model_type": "ocr",
                    "state": 0,
                    "status": "Model created, upload data to train it",
                    "categories": [{"name": "number_plate", "count": 0}],
                    "progress": None,
                    "eta_seconds": None,
                    "version": None,
                }
            ]
        }
    )


class V2Upload(ResponseModel):
    message: str = Field(description='"Success".')
    model_id: str
    files: list[UploadedFile]


class AnnotatedFile(ResponseModel):
    id: str
    filename: str
    object: list[dict[str, Any]] = Field(description="name, bndbox, ocr_text and page each.")
    pages: list[Size]
    created_at: str


class AnnotationsMeta(V2Model):
    total_images: int


class V2Annotations(ResponseModel):
    """The training files with their annotations and the model's state."""

    Data: list[AnnotatedFile]
    Meta: AnnotationsMeta


class LabelPage(Page):
    """One page of a LabelFile/LabelUrls answer."""

    processing_type: str = Field(description='"" when processed at once.')


class QueuedPage(ResponseModel):
    """An async answer's entry: the file's first page, with no prediction yet."""

    message: str
    input: str
    filepath: str
    page: int
    request_file_id: str = Field(description="Poll it with InferenceRequest.")
    id: str
    status: str = Field(description='"pending".')
    processing_type: str = Field(description='"async".')
    request_metadata: str | None
    size: Size
    prediction: list[Prediction]


class V2Prediction(ResponseModel):
    """The answer of LabelFile and LabelUrls: one ``result`` entry per page."""

    message: str
    result: list[LabelPage]
    signed_urls: dict[str, Any]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message": "Success",
                    "result": [{**PREDICTION_EXAMPLE, "processing_type": ""}],
                    "signed_urls": {},
                }
            ]
        }
    )


class V2Queued(ResponseModel):
    """The answer of LabelFile/Async and LabelUrls/Async."""

    message: str
    result: list[QueuedPage]


class ModeratedImage(ResponseModel):
    """One page as Nanonets' retrieval calls list it."""

    model_id: str
    id: str
    request_file_id: str
    original_file_name: str
    filename: str
    page: int
    day_since_epoch: int
    is_moderated: bool
    status: str
    size: Size
    url: str = Field(description="The page image (native API).")
    created_at: str
    request_metadata: str | None
    predicted_boxes: list[Prediction]
    moderated_boxes: list[Prediction] = Field(description="The same boxes once approved.")


class V2Listing(ResponseModel):
    """Pages of approved files apart from the others, counted."""

    moderated_images_count: int
    unmoderated_images_count: int
    moderated_images: list[ModeratedImage]
    unmoderated_images: list[ModeratedImage]
    signed_urls: dict[str, Any]


class V2File(V2Listing):
    """A stored result: docloop's file view and Nanonets' retrieval shape in one."""

    message: str = Field(description="Success, Pending or Failed.")
    request_file_id: str
    filename: str
    status: str
    error: str | None
    moderated: bool
    created_at: str
    day: int
    request_metadata: str | None
    result: list[LabelPage]


class V2Verified(FileView):
    message: str
    added_to_training: bool


class V2Page(ResponseModel):
    message: str
    result: list[Page]


class V2Deleted(ResponseModel):
    message: str
    request_file_id: str


class V2Assigned(ResponseModel):
    message: str
    member: str
    result: list[Assigned]


class Skipped(ResponseModel):
    request_file_id: str
    reason: str


class V2Retried(ResponseModel):
    message: str
    queued: list[str] = Field(description="Files queued for export.")
    skipped: list[Skipped]


class V2ErrorDetail(ResponseModel):
    reason: str
    message: str


class V2Error(ResponseModel):
    """Nanonets' error object, with docloop's error class in ``error``."""

    message: str
    code: int
    errors: list[V2ErrorDetail]
    error: str
