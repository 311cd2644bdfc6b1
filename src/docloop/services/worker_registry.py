"""Live workers: each worker loop writes when it was last seen, and removes itself on exit.

A worker beats while idle (from its loop) and while busy (beside its job's lease), at the pace
of the job heartbeats; one unseen for a whole lease is dead. Rows of long-dead workers are
pruned by the beats of the living."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from docloop.db.tables import WorkerSeen, utcnow
from docloop.domain import JobKind
from docloop.services.context import AppContext

FORGET_AFTER = timedelta(days=1)


def beat(ctx: AppContext, owner: str, kinds: list[JobKind] | None) -> None:
    """Record that ``owner`` is alive now."""
    now = utcnow()
    with ctx.session() as s:
        row = s.get(WorkerSeen, owner)
        if row is None:
            listed = [k.value for k in kinds] if kinds else None
            s.add(WorkerSeen(id=owner, kinds=listed, started_at=now, last_seen_at=now))
        else:
            row.last_seen_at = now
        s.execute(delete(WorkerSeen).where(WorkerSeen.last_seen_at < now - FORGET_AFTER))


def leave(ctx: AppContext, owner: str) -> None:
    """A worker stopping on purpose stops counting at once."""
    with ctx.session() as s:
        s.execute(delete(WorkerSeen).where(WorkerSeen.id == owner))


def alive_by_kind(session: Session, since: datetime) -> dict[JobKind, int]:
    """How many workers seen since ``since`` would run each job kind (every kind listed)."""
    counts: Counter[JobKind] = Counter()
    for kinds in session.scalars(select(WorkerSeen.kinds).where(WorkerSeen.last_seen_at >= since)):
        counts.update([JobKind(k) for k in kinds] if kinds else list(JobKind))
    return {kind: counts[kind] for kind in JobKind}
