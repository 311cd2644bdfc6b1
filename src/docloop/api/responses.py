"""What the API answers, for the OpenAPI document: the base of the response models, the
error bodies and the non-JSON answers (page images, downloads).

Response models describe JSON the services already shape. The routers leave out the fields a
service did not give (a field with a default may be absent), and the models allow extra keys,
so that a field added to a service reaches clients unchanged (the document lags, never the JSON).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

Number = int | float
"""A pixel coordinate or a figure that is stored as it was sent: an int stays an int."""


class ResponseModel(BaseModel):
    """Base of every response model: keys not declared here are passed through as they are."""

    model_config = ConfigDict(extra="allow")


class TypedRouter(APIRouter):
    """An APIRouter whose routes answer only the fields their service gave: a field of a
    response model with a default stays absent when the service left it out (every route,
    whatever its decorator passes: they all pass False by default)."""

    def add_api_route(self, path: str, endpoint: Any, **route: Any) -> None:
        route["response_model_exclude_unset"] = True
        super().add_api_route(path, endpoint, **route)


class ErrorResponse(ResponseModel):
    """The body of every error of the native API (and of malformed v2 requests)."""

    message: str = Field(description="What is wrong, in a sentence a person can act on.")
    error: str = Field(description="The error's class: InvalidInput, NotFound, Conflict, ...")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": "no model 'x1'", "error": "NotFound"}]}
    )


ERROR_MEANINGS = {
    400: "The request cannot be used as sent (a bad field, file or value).",
    401: "No API key, or an unknown one.",
    403: "The key's role lacks the permission, or a browser write lacks its CSRF token.",
    404: "No such resource in the caller's workspace.",
    409: "The resource is not in a state that allows this (e.g. a model not trained yet).",
    413: "A file is larger than the configured limit.",
    415: "A file is not an image or PDF docloop reads.",
    422: "A parameter or JSON body does not match its schema.",
}
API_ERRORS = (400, 401, 403, 404, 409, 422)


def error_responses(
    model: type[BaseModel], codes: tuple[int, ...] = API_ERRORS
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a router: each error status with its body model and meaning."""
    return {code: {"model": model, "description": ERROR_MEANINGS[code]} for code in codes}


def binary(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering bytes (of one of ``media_types``) instead of JSON."""
    schema = {"type": "string", "format": "binary"}
    return {
        200: {
            "description": description,
            "content": {media: {"schema": schema} for media in media_types},
        }
    }


JPEG = binary("The page as a JPEG image.", "image/jpeg")


class Size(ResponseModel):
    width: int
    height: int


class Box(ResponseModel):
    """A box in pixels of the page."""

    xmin: Number
    ymin: Number
    xmax: Number
    ymax: Number


class Category(ResponseModel):
    """A label of a model and how many annotated fields of it the training data has."""

    name: str
    count: int


class Prediction(ResponseModel):
    """One predicted (or corrected) field of a page, with its box in pixels."""

    id: str
    label: str
    type: str = Field(description='"field".')
    xmin: Number
    ymin: Number
    xmax: Number
    ymax: Number
    score: float = Field(description="Confidence from 0 to 1.")
    ocr_text: str
    page_no: int
    status: str = Field(
        description="untouched, correctly_predicted, corrected, wrong, suggested, ..."
    )
    alternative: bool = Field(
        description="A lesser candidate of its label the model doubted (left out of v2 "
        "answers unless include_alternatives is set).",
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Why the field needs a person (routing rules, low confidence).",
    )


PREDICTION_EXAMPLE = {
    "message": "Success",
    "input": "151.jpg",
    "page": 0,
    "request_file_id": "0b7c9f4e-5d1a-4c1e-9a51-0f3f3a7d2c11",
    "id": "5e2d8c1a-8f4b-4a8e-b3d2-6c1f0e9a7b42",
    "size": {"width": 806, "height": 466},
    "prediction": [
        {
            "id": "9d3c1b2a-7e6f-4d5c-8b9a-1f2e3d4c5b6a",
            "label": "number_plate",
            "type": "field",
            "xmin": 23,
            "ymin": 206,
            "xmax": 147,
            "ymax": 252,
            "score": 0.97,
            "ocr_text": "HR26DA2330",
            "page_no": 0,
            "status": "untouched",
            "alternative": False,
        }
    ],
    "moderated": False,
    "created_at": "2026-12-04T10:15:00+00:00",
    "request_metadata": None,
}


class Page(ResponseModel):
    """The prediction on one page of a file (a PDF has one per page)."""

    message: str
    input: str = Field(description="The file's name.")
    page: int = Field(description="Page number, from 0.")
    request_file_id: str = Field(description="The file's id, for retrieval and review.")
    id: str = Field(description="The page's id.")
    size: Size
    prediction: list[Prediction]
    moderated: bool = Field(description="Whether the file is approved.")
    created_at: str = Field(description="ISO 8601, UTC.")
    request_metadata: str | None

    model_config = ConfigDict(json_schema_extra={"examples": [PREDICTION_EXAMPLE]})


class FileView(ResponseModel):
    """A stored prediction request file: status, moderation state and its pages."""

    request_file_id: str
    filename: str
    status: str = Field(description="pending, done or failed.")
    error: str | None = Field(description="Why the prediction failed, when it did.")
    moderated: bool
    created_at: str
    day: int = Field(description="Days since 1970-01-01 UTC when it was predicted.")
    request_metadata: str | None
    result: list[Page]


class UploadedFile(ResponseModel):
    """A training file docloop stored."""

    id: str
    filename: str
    pages: int
    objects: int = Field(description="Annotated fields stored with the file.")


class Assigned(ResponseModel):
    request_file_id: str
    assigned_to: str | None = Field(description="The reviewer's e-mail, or null.")


class Health(ResponseModel):
    status: str = Field(description='"ok".')
    version: str


class Check(ResponseModel):
    ok: bool
    detail: str = Field(description="What answered, or why it failed.")


class Readiness(ResponseModel):
    status: str = Field(description='"ready" or "not ready".')
    checks: dict[str, Check] = Field(description="database, blobs and ocr.")
