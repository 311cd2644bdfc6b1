"""Drift and health monitoring: every ``monitor_interval_s`` the server computes each served
model's figures over the last ``monitor_window_days`` (``drift.figures``), publishes them as
Prometheus gauges, and sends an alert through the notification channel when a figure crosses
its threshold (and again when it is back under it).

Alert states live in the database and change by conditional update, so several API processes
checking at once send each alert once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docloop.config import Settings
from docloop.db.tables import AlertState, Model, utcnow
from docloop.services import drift, file_facts, notify, training_notices
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.drift import DriftFigures
from docloop.services.file_facts import aware
from docloop.services.models import load_model

log = logging.getLogger("docloop.monitoring")

# figure -> the setting holding its threshold; an alert fires when the figure reaches it
THRESHOLDS = {
    "psi": "alert_psi",
    "low_confidence_share": "alert_low_confidence_share",
    "correction_rate": "alert_correction_rate",
    "latency_p95_s": "alert_latency_p95_s",
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One monitored value: a model figure (``label`` "") or a label's PSI."""

    figure: str
    label: str
    value: float | None


def readings(f: DriftFigures) -> list[Reading]:
    out = [Reading("psi", label, v) for label, v in sorted(f.psi.items())]
    out += [Reading(name, "", getattr(f, name)) for name in THRESHOLDS if name != "psi"]
    return out


def current(session: Session, model: Model, settings: Settings) -> DriftFigures:
    """The model's figures over the last ``monitor_window_days``."""
    end = utcnow()
    facts = file_facts.load(
        session, [model], end - timedelta(days=settings.monitor_window_days), end
    )
    return drift.figures(
        facts, drift.references(session, [model.id]),
        low_confidence=settings.low_confidence, min_fields=settings.drift_min_fields,
    )  # fmt: skip


def check(ctx: AppContext) -> list[notify.Notice]:
    """Compute every served model's figures, publish them, and send the alerts whose state
    changed, and the training outcomes not announced yet; returns the notices sent."""
    settings, sent = ctx.settings, training_notices.announce_pending(ctx)
    with ctx.session() as s:
        models = s.scalars(select(Model).where(Model.production_version_id.is_not(None))).all()
        found = [(m.id, m.name, current(s, m, settings)) for m in models]
    ctx.metrics.monitoring_checked(
        {model_id: [(r.figure, r.label, r.value) for r in readings(f)] for model_id, _, f in found}
    )
    for model_id, name, figures in found:
        for r in readings(figures):
            if r.value is None:
                continue
            threshold = float(getattr(settings, THRESHOLDS[r.figure]))
            if _changed(ctx, model_id, r, threshold):
                notice = _notice(model_id, name, r, threshold, figures.files)
                notify.send(settings, notice)
                sent.append(notice)
    return sent


def _changed(ctx: AppContext, model_id: str, r: Reading, threshold: float) -> bool:
    """Record the reading; True when this call moved the alert in or out of firing (a new
    alert counts only if it fires)."""
    firing = r.value is not None and r.value >= threshold
    key = (AlertState.model_id == model_id, AlertState.figure == r.figure,
           AlertState.label == r.label)  # fmt: skip
    try:
        with ctx.session() as s:
            row = s.scalar(select(AlertState).where(*key))
            if row is None:
                s.add(AlertState(model_id=model_id, figure=r.figure, label=r.label,
                                 firing=firing, value=r.value, threshold=threshold))  # fmt: skip
                s.flush()
                return firing
            won = s.execute(
                update(AlertState)
                .where(*key, AlertState.firing.is_(not firing))
                .values(firing=firing, value=r.value, threshold=threshold, changed_at=utcnow())
            ).rowcount
            if won != 1:
                s.execute(update(AlertState).where(*key).values(value=r.value))
            return won == 1
    except IntegrityError:  # another process recorded it first: it sends the alert
        return False


def _notice(model_id: str, name: str, r: Reading, threshold: float, files: int) -> notify.Notice:
    firing = r.value is not None and r.value >= threshold
    what = f"{r.figure} of label {r.label!r}" if r.label else r.figure
    state = "crossed" if firing else "is back under"
    return notify.Notice(
        event="alert.firing" if firing else "alert.resolved",
        model_id=model_id,
        model_name=name,
        subject=f"model {name}: {what} {state} {threshold}",
        text=(
            f"Model {name} ({model_id}): {what} is {r.value} over the last window of "
            f"{files} files; the alert threshold is {threshold}."
        ),
        details={"figure": r.figure, "label": r.label or None, "value": r.value,
                 "threshold": threshold, "firing": firing, "files": files},
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert's last state: whether its figure is past its threshold, and since when."""

    figure: str
    label: str | None
    firing: bool
    value: float | None
    threshold: float | None
    changed_at: str


@dataclass(frozen=True, slots=True)
class MonitoringStatus:
    """A model's figures over the monitoring window, the thresholds and its alerts."""

    window_days: int
    figures: DriftFigures
    thresholds: dict[str, float | None]
    alerts: list[AlertView]


def status(ctx: AppContext, who: Principal, model_id: str) -> MonitoringStatus:
    """The model's current figures, the thresholds, and each alert's state."""
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        figures = current(s, model, ctx.settings)
        alerts = s.scalars(select(AlertState).where(AlertState.model_id == model.id)).all()
        return MonitoringStatus(
            window_days=ctx.settings.monitor_window_days,
            figures=figures,
            thresholds={k: getattr(ctx.settings, v) for k, v in THRESHOLDS.items()},
            alerts=[
                AlertView(figure=a.figure, label=a.label or None, firing=a.firing, value=a.value,
                          threshold=a.threshold, changed_at=aware(a.changed_at).isoformat())
                for a in sorted(alerts, key=lambda a: (a.figure, a.label))
            ],
        )  # fmt: skip


def start_background(ctx: AppContext) -> threading.Event:
    """Check every ``monitor_interval_s`` in a daemon thread until the returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(ctx.settings.monitor_interval_s):
            try:
                check(ctx)
            except Exception:  # a failed check must not end the monitoring
                log.exception("monitoring check failed")

    threading.Thread(target=loop, daemon=True, name="docloop-monitoring").start()
    return stop
