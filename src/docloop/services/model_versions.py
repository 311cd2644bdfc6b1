"""Which trained version a model serves: the promotion gate, promote and rollback.

A new version replaces the served one only if its validation score is at least as good, so a
retrain on worse data never silently degrades production. The score is out-of-fold (each page
scored by a network that did not see it), which is the only fair comparison between versions
trained on overlapping data: the old version has seen most of the new version's pages.
Switching is one row update; requests in flight finish on the version they started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docloop.db.tables import Model, ModelVersion, ProductionChange
from docloop.errors import Conflict, NotFound
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import ModelInfo, describe, load_model
from docloop.services.users import require


def validation_score(metrics: dict[str, Any]) -> float | None:
    """Share of fields read right on the validation pages; box hits when no text is annotated."""
    if metrics.get("val_text_accuracy") is not None:
        return float(metrics["val_text_accuracy"])
    per_label = metrics.get("val_per_label", {}).values()
    boxes = [v["box_iou50"] for v in per_label if v["box_iou50"] is not None]
    return sum(boxes) / len(boxes) if boxes else None


# Under this many validation pages in common, two versions are compared on all their pages.
MIN_COMMON_PAGES = 10


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """Both versions' out-of-fold results on the validation pages both scored: the same files,
    each read by a network that had not seen it. None when they share no page."""
    old_pages, new_pages = old.get("val_pages") or {}, new.get("val_pages") or {}
    common = sorted(old_pages.keys() & new_pages.keys())
    if not common:
        return None

    def score(pages: dict[str, dict[str, list[bool | None]]]) -> float | None:
        hits = [t for k in common for t, b in pages[k].values() if t is not None]
        if not hits:
            hits = [b for k in common for t, b in pages[k].values() if b is not None]
        return round(sum(hits) / len(hits), 4) if hits else None

    return {"pages": len(common), "old": score(old_pages), "new": score(new_pages)}


def gate(session: Session, model: Model, new: ModelVersion, *, force: bool) -> tuple[bool, str]:
    """Whether ``new`` should become production, and why (kept on the change and the run).

    Compared on the validation pages both versions scored when there are enough of them (the
    same files), else on each version's whole validation set."""
    current = session.get(ModelVersion, model.production_version_id or "")
    if current is None:
        return True, "the model's first served version"
    if force:
        return True, f"forced over version {current.number}"
    new_score, old_score, where = scores(current, new)
    if new_score is None or old_score is None:
        return True, "no validation figures to compare (under 10 training pages)"
    if new_score >= old_score:
        return True, (
            f"validation score {new_score:.4f} >= {old_score:.4f} of version {current.number} "
            f"{where}"
        )
    return False, (
        f"validation score {new_score:.4f} < {old_score:.4f} of version {current.number} {where}; "
        f"version {current.number} stays in production (promote version {new.number} to serve it)"
    )


def scores(current: ModelVersion, new: ModelVersion) -> tuple[float | None, float | None, str]:
    """The new and the current version's validation scores as the gate compares them, and on
    what: the validation pages both scored when there are enough, else each one's own."""
    same = compare(current.metrics, new.metrics)
    if same and same["pages"] >= MIN_COMMON_PAGES and None not in (same["new"], same["old"]):
        return same["new"], same["old"], f"on the {same['pages']} validation pages both scored"
    return (
        validation_score(new.metrics),
        validation_score(current.metrics),
        "on each version's validation pages",
    )


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A version trained after the served one but not served, because it validated worse."""

    version: int
    served: int
    new_score: float
    served_score: float
    where: str


def held_back(ctx: AppContext, who: Principal, model_id: str) -> HeldBack | None:
    """The newest version, when it came after the served one and scores below it: what the
    model page explains, with both figures, so that nobody wonders why a retrain changed
    nothing. None when the newest version is served or was set aside by hand (a rollback)."""
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        current = s.get(ModelVersion, model.production_version_id or "")
        newest = s.scalar(
            select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
            .order_by(ModelVersion.number.desc())
            .limit(1)
        )
        if current is None or newest is None or newest.number <= current.number:
            return None
        new_score, old_score, where = scores(current, newest)
        if new_score is None or old_score is None or new_score >= old_score:
            return None
        return HeldBack(newest.number, current.number, new_score, old_score, where)


def set_production(
    session: Session, model: Model, version: ModelVersion, *, action: str, reason: str, by: str
) -> None:
    session.add(
        ProductionChange(
            model_id=model.id,
            version_id=version.id,
            previous_version_id=model.production_version_id,
            action=action,
            reason=reason,
            by=by,
        )
    )
    model.production_version_id = version.id


def promote(ctx: AppContext, who: Principal, model_id: str, number: int) -> ModelInfo:
    """Serve version ``number`` from now on, whatever its figures."""
    require(who, "train")
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        version = _version(s, model.id, number)
        if version.id != model.production_version_id:
            set_production(
                s, model, version, action="promote", reason="promoted by hand", by=who.actor
            )
        return describe(s, model)


def rollback(ctx: AppContext, who: Principal, model_id: str) -> ModelInfo:
    """Serve again the version the current one replaced; repeated, it walks further back."""
    require(who, "train")
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        current = _last_change_to(s, model.id, model.production_version_id)
        if current is None or current.previous_version_id is None:
            raise Conflict("there is no earlier served version to roll back to")
        target = s.get(ModelVersion, current.previous_version_id)
        if target is None:
            raise Conflict("the previous version no longer exists")
        before = _last_change_to(s, model.id, target.id)
        s.add(
            ProductionChange(
                model_id=model.id,
                version_id=target.id,
                previous_version_id=before.previous_version_id if before else None,
                action="rollback",
                reason=f"rolled back from version {_number(s, model.production_version_id)}",
                by=who.actor,
            )
        )
        model.production_version_id = target.id
        return describe(s, model)


@dataclass(frozen=True, slots=True)
class ProductionChangeView:
    """A change of the served version: to which, from which, why and by whom."""

    version: int | None
    previous_version: int | None
    action: str
    reason: str | None
    by: str | None
    at: str


def history(ctx: AppContext, who: Principal, model_id: str) -> list[ProductionChangeView]:
    """Every change of the served version, oldest first."""
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        changes = s.scalars(
            select(ProductionChange)
            .where(ProductionChange.model_id == model.id)
            .order_by(ProductionChange.id)
        ).all()
        return [
            ProductionChangeView(
                version=_number(s, c.version_id),
                previous_version=_number(s, c.previous_version_id),
                action=c.action,
                reason=c.reason,
                by=c.by,
                at=c.at.isoformat(),
            )
            for c in changes
        ]


def _last_change_to(
    session: Session, model_id: str, version_id: str | None
) -> ProductionChange | None:
    return session.scalar(
        select(ProductionChange)
        .where(ProductionChange.model_id == model_id, ProductionChange.version_id == version_id)
        .order_by(ProductionChange.id.desc())
        .limit(1)
    )


def _version(session: Session, model_id: str, number: int) -> ModelVersion:
    version = session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model_id, ModelVersion.number == number)
    )
    if version is None:
        raise NotFound(f"the model has no version {number}")
    return version


def _number(session: Session, version_id: str | None) -> int | None:
    version = session.get(ModelVersion, version_id) if version_id else None
    return version.number if version else None
