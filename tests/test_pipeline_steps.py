"""Each training step is recorded on its run with its wall and CPU seconds, cached or not."""

from __future__ import annotations

import time
import uuid

from docloop.db.tables import TrainingRun
from docloop.services import auth, models
from docloop.services.context import AppContext
from docloop.services.pipeline import Pipeline


def _busy(_key: str) -> int:
    """About 0.2 CPU seconds of work, however busy the machine is."""
    started = time.process_time()
    n = 0
    while time.process_time() - started < 0.2:
        n += 1
    return n


def test_a_step_records_its_cpu_seconds_computed_and_cached(ctx: AppContext) -> None:
    who = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, who, categories=["number_plate"])
    run_id = str(uuid.uuid4())
    with ctx.session() as s:
        s.add(TrainingRun(id=run_id, model_id=model.id, status="running", steps=[]))
    pipe = Pipeline(ctx, run_id)

    first, key = pipe.step("busy", [1], _busy)
    again, same = pipe.step("busy", [1], _busy)

    assert again == first and same == key
    with ctx.session() as s:
        computed, cached = s.get(TrainingRun, run_id).steps  # type: ignore[union-attr]
    assert computed["cached"] is False and computed["cpu_seconds"] >= 0.2
    assert cached["cached"] is True and cached["cpu_seconds"] < 0.2
