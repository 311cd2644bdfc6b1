"""Service values -> the v2 JSON shapes of Nanonets' reference (GUIDE §2, docs/nanonets.md).

A Nanonets client takes every prediction it is given as a field. The predictions docloop marks
``alternative`` (a label's lesser candidates the model doubted, ``routing.alternatives``) are
therefore left out of v2 answers unless the caller asks for them (``include_alternatives``);
one a person confirmed or corrected is a field again and always stays.
"""

from __future__ import annotations

from typing import Any

from docloop.services.annotation import TrainingFileView
from docloop.services.models import ModelInfo
from docloop.services.routing import UNTOUCHED


def model_object(m: ModelInfo) -> dict[str, Any]:
    return {
        "model_id": m.id,
        "model_type": m.model_type,
        "state": int(m.state),
        "status": m.status,
        "categories": [{"name": n, "count": c} for n, c in m.categories],
        "progress": m.progress,
        "eta_seconds": m.eta_seconds,
        "version": m.version,
    }


def annotations_object(m: ModelInfo, files: list[TrainingFileView]) -> dict[str, Any]:
    """The training files with their annotations (``Data``) and the model's state (``Meta``):
    what the official wrapper's state check reads."""
    return {
        "Data": [
            {
                "id": f.id,
                "filename": f.filename,
                "object": f.object,
                "pages": f.pages,
                "created_at": f.created_at,
            }
            for f in files
        ],
        "Meta": {**model_object(m), "total_images": len(files)},
    }


def fields_only(
    predictions: list[dict[str, Any]], include_alternatives: bool
) -> list[dict[str, Any]]:
    """The predictions a v2 client receives: without unconfirmed alternatives by default."""
    if include_alternatives:
        return predictions
    return [p for p in predictions if not (p.get("alternative") and p.get("status") == UNTOUCHED)]


def label_page(page: dict[str, Any], include_alternatives: bool) -> dict[str, Any]:
    """One page of a LabelFile/LabelUrls answer (processed at once: ``processing_type`` "")."""
    return {
        **page,
        "processing_type": "",
        "prediction": fields_only(page["prediction"], include_alternatives),
    }


def queued_page(item: dict[str, Any]) -> dict[str, Any]:
    """An async answer's entry: the file's first page, with no prediction yet."""
    return {
        "message": "Success",
        "input": item["filename"],
        "filepath": item["filename"],
        "page": 0,
        "request_file_id": item["request_file_id"],
        "id": item["request_file_id"],
        "status": item["status"],
        "processing_type": "async",
        "request_metadata": item["request_metadata"],
        "size": item["size"],
        "prediction": [],
    }


def moderated_page(
    model_id: str, view: dict[str, Any], page: dict[str, Any], include_alternatives: bool
) -> dict[str, Any]:
    """One page as Nanonets' retrieval calls list it (``moderated_images`` items)."""
    boxes = fields_only(page["prediction"], include_alternatives)
    return {
        "model_id": model_id,
        "id": page["id"],
        "request_file_id": view["request_file_id"],
        "original_file_name": view["filename"],
        "filename": view["filename"],
        "page": page["page"],
        "day_since_epoch": view["day"],
        "is_moderated": view["moderated"],
        "status": view["status"],
        "size": page["size"],
        "url": f"/api/v1/models/{model_id}/predictions/{view['request_file_id']}"
        f"/pages/{page['page']}/image",
        "created_at": view["created_at"],
        "request_metadata": view["request_metadata"],
        "predicted_boxes": boxes,
        "moderated_boxes": boxes if view["moderated"] else [],
    }


def moderated_listing(
    model_id: str, views: list[dict[str, Any]], include_alternatives: bool
) -> dict[str, Any]:
    """Nanonets' retrieval shape: pages of approved files apart from the others, counted."""
    moderated, unmoderated = [], []
    for view in views:
        pages = [moderated_page(model_id, view, p, include_alternatives) for p in view["result"]]
        (moderated if view["moderated"] else unmoderated).extend(pages)
    return {
        "moderated_images_count": len(moderated),
        "unmoderated_images_count": len(unmoderated),
        "moderated_images": moderated,
        "unmoderated_images": unmoderated,
        "signed_urls": {},
    }
