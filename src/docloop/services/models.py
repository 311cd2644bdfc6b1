"""Model records: create, find (always within the caller's workspace), describe."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import Model, ModelVersion, TrainingFile, utcnow
from docloop.domain import STATE_STATUS, ModelState
from docloop.errors import InvalidInput, NotFound
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.users import require

MAX_LABELS = 100


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    model_type: str
    state: ModelState
    status: str
    categories: list[tuple[str, int]]
    files: int
    progress: float | None = None
    eta_seconds: float | None = None
    version: int | None = None
    versions: list[dict] = field(default_factory=list)  # type: ignore[type-arg]


def validate_labels(categories: object) -> list[str]:
    if not isinstance(categories, list) or not categories:
        raise InvalidInput("categories must be a non-empty list of label names")
    labels: list[str] = []
    for c in categories:
        name = c.get("name") if isinstance(c, dict) else c
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise InvalidInput(f"invalid label name {name!r}: use 1 to 100 characters")
        if name.strip() in labels:
            raise InvalidInput(f"label {name!r} is listed twice")
        labels.append(name.strip())
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"a model can have at most {MAX_LABELS} labels")
    return labels


def create_model(
    ctx: AppContext,
    who: Principal,
    *,
    categories: object,
    model_type: str = "ocr",
    name: str | None = None,
) -> ModelInfo:
    require(who, "models")
    labels = validate_labels(categories)
    with ctx.session() as s:
        model = Model(
            id=str(uuid.uuid4()),
            workspace_id=who.workspace_id,
            name=name or ", ".join(labels)[:200],
            model_type=model_type or "ocr",
            categories=labels,
        )
        s.add(model)
        s.flush()
        return describe(s, model)


def load_model(session: Session, who: Principal, model_id: str) -> Model:
    """The model if it exists in the caller's workspace; NotFound otherwise (ids never leak)."""
    model = session.get(Model, model_id) if model_id else None
    if model is None or model.workspace_id != who.workspace_id:
        raise NotFound(
            f"Model does not exists. Check if you have entered correct model id with valid API "
            f"key: no model with id {model_id!r} in this workspace"
        )
    return model


def get_model(ctx: AppContext, who: Principal, model_id: str) -> ModelInfo:
    with ctx.session() as s:
        return describe(s, load_model(s, who, model_id))


def list_models(ctx: AppContext, who: Principal) -> list[ModelInfo]:
    with ctx.session() as s:
        rows = s.scalars(
            select(Model).where(Model.workspace_id == who.workspace_id).order_by(Model.created_at)
        ).all()
        return [describe(s, m) for m in rows]


def describe(session: Session, model: Model) -> ModelInfo:
    files = session.scalars(
        select(TrainingFile.annotations).where(TrainingFile.model_id == model.id)
    ).all()
    counts: Counter[str] = Counter(a["label"] for anns in files for a in anns)
    versions = session.scalars(
        select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.number)
    ).all()
    production = next((v for v in versions if v.id == model.production_version_id), None)
    state = _state(
        model,
        n_files=len(files),
        n_annotated=sum(1 for a in files if a),
        hosted=production is not None,
    )
    status = STATE_STATUS[state]
    if state == ModelState.FAILED or (model.train_state == "failed" and production is not None):
        status = (
            f"Training failed: {model.train_error}"
            if state == ModelState.FAILED
            else (f"{status}; the latest training failed: {model.train_error}")
        )
    if state == ModelState.TRAINING and model.train_progress is not None:
        status = f"{status} ({model.train_progress:.0%} done)"
    return ModelInfo(
        id=model.id,
        name=model.name,
        model_type=model.model_type,
        state=state,
        status=status,
        categories=[(c, counts.get(c, 0)) for c in model.categories],
        files=len(files),
        progress=model.train_progress
        if state in (ModelState.QUEUED, ModelState.TRAINING)
        else None,
        eta_seconds=model.train_eta_s if state == ModelState.TRAINING else None,
        version=production.number if production else None,
        versions=[
            {
                "number": v.number,
                "id": v.id,
                "created_at": v.created_at.isoformat(),
                "train_seconds": v.train_seconds,
                "dataset_version_id": v.dataset_version_id,
                "metrics": _summary(v.metrics),
                "compared_with_previous": _compared(versions[n - 1], v) if n else None,
            }
            for n, v in enumerate(versions)
        ],  # fmt: skip
    )


def _compared(old: ModelVersion, new: ModelVersion) -> dict[str, Any] | None:
    from docloop.services.model_versions import compare

    found = compare(old.metrics, new.metrics)
    return {**found, "version": old.number} if found else None


def _summary(metrics: dict) -> dict:  # type: ignore[type-arg]
    return {
        k: metrics[k]
        for k in (
            "val_text_accuracy",
            "val_per_label",
            "train_pages",
            "val_fields",
            "members",
        )
        if k in metrics
    }


def _state(model: Model, *, n_files: int, n_annotated: int, hosted: bool) -> ModelState:
    if model.train_state == "queued":
        return ModelState.QUEUED
    if model.train_state == "training":
        return ModelState.TRAINING
    if hosted:
        return ModelState.HOSTED
    if model.train_state == "failed":
        return ModelState.FAILED
    if n_files == 0:
        return ModelState.CREATED
    return ModelState.ANNOTATED if n_annotated else ModelState.UPLOADED


def touch(model: Model) -> None:
    model.updated_at = utcnow()
