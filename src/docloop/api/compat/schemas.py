"""Service values -> the v2 JSON shapes of GUIDE §2."""

from __future__ import annotations

from typing import Any

from docloop.services.models import ModelInfo


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


def listed_file(view: dict[str, Any]) -> dict[str, Any]:
    boxes = [p for page in view["result"] for p in page["prediction"]]
    return {
        "request_file_id": view["request_file_id"],
        "filename": view["filename"],
        "day_since_epoch": view["day"],
        "is_moderated": view["moderated"],
        "status": view["status"],
        "predicted_boxes": boxes,
        "result": view["result"],
    }
