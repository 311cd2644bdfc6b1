"""OpenAPI request bodies of the routes that read multipart forms themselves.

Those routes parse the request by hand (``forms.parse_body``) to accept every way Nanonets
clients send their fields, so FastAPI cannot infer a body; these describe the parts instead.
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


V2_UPLOAD_FILE = multipart(
    {
        "file": FILE,
        "data": ANNOTATIONS,
        "modelId": {"type": "string", "description": "The model id again (Nanonets clients)."},
    },
    ["file"],
)
V2_LABEL_FILE = multipart({"file": FILE, "request_metadata": METADATA}, ["file"])
NATIVE_UPLOAD = multipart({"file": FILE, "annotations": ANNOTATIONS}, ["file"])
NATIVE_PREDICT = multipart({"file": FILE, "request_metadata": METADATA}, ["file"])
