"""OpenAPI request bodies of the routes that read their body themselves.

Those routes parse the request by hand (``forms.parse_body``) to accept every way Nanonets
clients send their fields (multipart parts, form fields or JSON), so FastAPI cannot infer a
body; these describe the parts and fields instead.
"""

from __future__ import annotations

import json
from typing import Any

BOX_EXAMPLE = [
    {
        "filename": "151.jpg",
        "object": [
            {
                "name": "number_plate",
                "ocr_text": "HR26DA2330",
                "bndbox": {"xmin": 23, "ymin": 206, "xmax": 147, "ymax": 252},
            }
        ],
    }
]
FILE = {"type": "string", "format": "binary", "description": "An image (JPEG, PNG, ...) or PDF."}
ANNOTATIONS = {
    "type": "string",
    "description": "JSON list, one entry per file: filename and its objects (label name, "
    "optional ocr_text, bndbox in pixels or null when only the text is known).",
    "example": json.dumps(BOX_EXAMPLE),
}
METADATA = {"type": "string", "description": "Free text stored with the prediction (10,000 chars)."}


def multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An ``openapi_extra`` giving a route its multipart/form-data request body."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def json_body(
    properties: dict[str, Any], required: list[str], example: dict[str, Any]
) -> dict[str, Any]:
    """An ``openapi_extra`` giving a route its JSON request body, with an example."""
    schema = {"type": "object", "properties": properties, "required": required}
    content = {"schema": schema, "example": example}
    return {"requestBody": {"required": bool(required), "content": {"application/json": content}}}


def either(*extras: dict[str, Any]) -> dict[str, Any]:
    """One ``openapi_extra`` accepting the request body of any of ``extras`` (by media type)."""
    content = {k: v for e in extras for k, v in e["requestBody"]["content"].items()}
    return {"requestBody": {"required": True, "content": content}}


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


V2_UPLOAD_FILE = multipart(
    {
        "file": FILE,
        "data": ANNOTATIONS,
        "modelId": {"type": "string", "description": "The model id again (Nanonets clients)."},
    },
    ["file"],
)
V2_LABEL_FILE = multipart({"file": FILE, "request_metadata": METADATA}, ["file"])
URLS = _strings("URLs of images or PDFs docloop downloads.")
NATIVE_UPLOAD = either(
    multipart({"file": FILE, "annotations": ANNOTATIONS}, ["file"]),
    json_body(
        {"urls": URLS, "annotations": ANNOTATIONS},
        ["urls"],
        {"urls": ["https://example.com/151.jpg"], "annotations": json.dumps(BOX_EXAMPLE)},
    ),
)
NATIVE_PREDICT = either(
    multipart({"file": FILE, "request_metadata": METADATA}, ["file"]),
    json_body(
        {"urls": URLS, "request_metadata": METADATA},
        ["urls"],
        {"urls": ["https://example.com/151.jpg"]},
    ),
)
V2_CREATE_MODEL = json_body(
    {
        "categories": _strings("The labels (field names) the model extracts."),
        "model_type": {"type": "string", "description": '"ocr" (the default).'},
        "name": {"type": "string", "description": "A name for people (docloop's own)."},
    },
    ["categories"],
    {"categories": ["number_plate"], "model_type": "ocr"},
)
V2_UPLOAD_URLS = json_body(
    {"urls": URLS, "data": ANNOTATIONS},
    ["urls"],
    {"urls": ["https://example.com/151.jpg"], "data": json.dumps(BOX_EXAMPLE)},
)
V2_LABEL_URLS = json_body(
    {"urls": URLS, "request_metadata": METADATA},
    ["urls"],
    {"urls": ["https://example.com/151.jpg"]},
)
BOXES = {
    "type": "array",
    "items": {"type": "object"},
    "description": "The page's fields as they should be: label, ocr_text, xmin, ymin, xmax, "
    "ymax (or a bndbox), score and status; a field keeps its id.",
}
CHANGE = {
    "type": "object",
    "description": 'What the reviewer did, for the change log: {"action": "edit_text", "id": '
    "field id} (move, resize, relabel, add, delete, mark_correct, mark_wrong, undo, ...).",
}
PAGE_EXAMPLE = {
    "predicted_boxes": [
        {"id": "9d3c1b2a-7e6f-4d5c-8b9a-1f2e3d4c5b6a", "label": "number_plate",
         "ocr_text": "HR26DA2330", "xmin": 23, "ymin": 206, "xmax": 147, "ymax": 252,
         "status": "corrected"}
    ],
    "change": {"action": "edit_text", "id": "9d3c1b2a-7e6f-4d5c-8b9a-1f2e3d4c5b6a"},
}  # fmt: skip
V2_CORRECTED_PAGE = json_body(
    {
        "id": {"type": "string", "description": "The page's id."},
        "request_file_id": {"type": "string", "description": "The file (with page)."},
        "page": {"type": "integer", "description": "Page number, from 0 (with the file)."},
        "predicted_boxes": BOXES,
        "change": CHANGE,
    },
    ["predicted_boxes"],
    {"id": "5e2d8c1a-8f4b-4a8e-b3d2-6c1f0e9a7b42", **PAGE_EXAMPLE},
)
NATIVE_CORRECTED_PAGE = json_body(
    {"predicted_boxes": BOXES, "change": CHANGE}, ["predicted_boxes"], PAGE_EXAMPLE
)
V2_ASSIGN = json_body(
    {
        "member": {"type": "string", "description": "The reviewer's e-mail."},
        "file_ids": _strings("The request_file_ids to put in their queue."),
    },
    ["member", "file_ids"],
    {"member": "ana@example.com", "file_ids": ["0b7c9f4e-5d1a-4c1e-9a51-0f3f3a7d2c11"]},
)
V2_RETRY_EXPORTS = json_body(
    {"file_ids": _strings("The files to export again; without it, every failed export.")},
    [],
    {"file_ids": ["0b7c9f4e-5d1a-4c1e-9a51-0f3f3a7d2c11"]},
)
SECOND_REVIEW = json_body(
    {
        "fields": {
            "type": "array",
            "items": {"type": "object"},
            "description": "The fields as the second reviewer reads them: page, label, "
            "ocr_text and the box as xmin, ymin, xmax, ymax (or a bndbox).",
        }
    },
    ["fields"],
    {"fields": [{"page": 0, "label": "number_plate", "ocr_text": "HR26DA2330",
                 "xmin": 23, "ymin": 206, "xmax": 147, "ymax": 252}]},
)  # fmt: skip
