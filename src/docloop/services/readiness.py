"""Whether this process can do its work now: what ``/readyz`` reports, one check per dependency.

Liveness (``/healthz``) does no I/O; readiness reaches every dependency a request needs: the
database (reachable and at the newest schema), the blob store (writable) and the OCR engine
(loaded and reading). A load balancer sends traffic only to ready replicas, and a replica
started before `docloop migrate` stays unready, saying so, until the schema is at head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text

from docloop.db.migrate import behind, current_revision
from docloop.errors import DocloopError, TransientError
from docloop.services.context import AppContext


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str


def check_database(ctx: AppContext) -> str:
    """Reachable and at this docloop's newest schema."""
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    pending = behind(ctx.engine)
    if pending is not None:
        raise TransientError(pending)
    return f"{ctx.engine.dialect.name} at revision {current_revision(ctx.engine)}"


def check_storage(ctx: AppContext) -> str:
    ctx.blobs.check()
    return type(ctx.blobs).__name__


def check_ocr(ctx: AppContext) -> str:
    """A blank page read: the first call loads the engine's models, later ones show it answers."""
    ctx.ocr.read(np.zeros((32, 32, 3), np.uint8))
    return ctx.ocr.name


CHECKS: dict[str, Callable[[AppContext], str]] = {
    "database": check_database,
    "storage": check_storage,
    "ocr": check_ocr,
}


def run_checks(ctx: AppContext) -> dict[str, CheckResult]:
    """Every check's outcome; a failing check never stops the others from running."""
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = CheckResult(True, check(ctx))
        except Exception as exc:  # a probe reports any failure, it never raises
            reason = (
                exc.message if isinstance(exc, DocloopError) else f"{type(exc).__name__}: {exc}"
            )
            results[name] = CheckResult(False, reason)
    return results
