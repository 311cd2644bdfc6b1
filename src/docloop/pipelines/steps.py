"""The steps of a retraining pipeline, as plain functions on the SDK.

Schedulers wrap these (``luigi_tasks``, ``airflow_dag``); each takes a ``Client`` and returns
JSON-able data, so a scheduler can store it as a task's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docloop.client import Client, Model

SCORE = "val_text_accuracy"
"""The validation figure two versions are compared on (out-of-fold text accuracy)."""


def upload_folder(dl: Client, model_id: str, folder: Path) -> dict[str, Any]:
    """Upload a dataset folder; returns how many files were stored."""
    return {"model_id": model_id, "files": len(dl.upload_folder(model_id, folder))}


def train_and_wait(dl: Client, model_id: str, timeout: float | None = None) -> dict[str, Any]:
    """Queue a training and wait for it to finish.

    The server serves the new version itself only when it validates at least as well;
    ``evaluate`` and ``promote_if_better`` make that decision explicit and recorded."""
    before = dl.model(model_id).version
    dl.train(model_id)
    model = dl.wait(model_id, timeout=timeout)
    if not model.hosted:
        raise RuntimeError(f"training of {model_id} failed: {model.status}")
    return {"model_id": model_id, "serving_before": before, "newest": _newest(model)["number"]}


def evaluate(dl: Client, model_id: str) -> dict[str, Any]:
    """The newest version's validation score against the one served, from the model's record."""
    model = dl.model(model_id)
    newest = _newest(model)
    serving = next((v for v in model.versions if v["number"] == model.version), None)
    return {
        "model_id": model_id,
        "candidate": newest["number"],
        "candidate_score": newest["metrics"].get(SCORE),
        "serving": model.version,
        "serving_score": serving["metrics"].get(SCORE) if serving else None,
    }


def promote_if_better(dl: Client, evaluation: dict[str, Any]) -> dict[str, Any]:
    """Serve the candidate when it scores at least as well as the served version."""
    candidate, serving = evaluation["candidate_score"], evaluation["serving_score"]
    better = serving is None or (candidate is not None and candidate >= serving)
    if better and evaluation["candidate"] != evaluation["serving"]:
        dl.promote(evaluation["model_id"], evaluation["candidate"])
    served = dl.model(evaluation["model_id"]).version
    return {**evaluation, "promoted": better, "now_serving": served}


def _newest(model: Model) -> dict[str, Any]:
    if not model.versions:
        raise RuntimeError(f"model {model.id} has no trained version")
    return max(model.versions, key=lambda v: v["number"])
