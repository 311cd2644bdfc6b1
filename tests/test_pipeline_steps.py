"""Each training step is recorded on its run with its wall and CPU seconds, cached or not."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from docloop.db.tables import TrainingRun
from docloop.services import auth, models
from docloop.services.context import AppContext, build_context
from docloop.services.pipeline import Pipeline
from tests.conftest import _ENGINE, make_settings


def _busy(_key: str) -> int:
    """About 0.2 CPU seconds of work, however busy the machine is."""
    started = time.process_time()
    n = 0
    while time.process_time() - started < 0.2:
        n += 1
    return n


def _pipeline(ctx: AppContext) -> tuple[Pipeline, str]:
    """A pipeline for a new running training run of a new model, and the run's id."""
    who = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, who, categories=["number_plate"])
    run_id = str(uuid.uuid4())
    with ctx.session() as s:
        s.add(TrainingRun(id=run_id, model_id=model.id, status="running", steps=[]))
    return Pipeline(ctx, run_id), run_id


def test_a_step_records_its_cpu_seconds_computed_and_cached(ctx: AppContext) -> None:
    pipe, run_id = _pipeline(ctx)

    first, key = pipe.step("busy", [1], _busy)
    again, same = pipe.step("busy", [1], _busy)

    assert again == first and same == key
    with ctx.session() as s:
        computed, cached = s.get(TrainingRun, run_id).steps  # type: ignore[union-attr]
    assert computed["cached"] is False and computed["cpu_seconds"] >= 0.2
    assert cached["cached"] is True and cached["cpu_seconds"] < 0.2


def test_steps_recorded_from_two_threads_at_once_are_all_kept(
    any_db_url: str | None, tmp_path: Path
) -> None:
    """The recognizer's tuning runs its step beside the network's training; each step adds
    itself to the run's list (read, then write), and neither may drop the other's entry."""
    context = build_context(make_settings(tmp_path / "home", any_db_url), ocr=_ENGINE)
    try:
        _record_from_two_threads(context)
    finally:
        context.close()


def _record_from_two_threads(ctx: AppContext) -> None:
    pipe, run_id = _pipeline(ctx)

    def record(name: str) -> None:
        for n in range(40):
            pipe.record(name, f"{name}-{n}", cached=False, seconds=0.0)

    threads = [threading.Thread(target=record, args=(name,)) for name in ("train", "tune")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with ctx.session() as s:
        steps = s.get(TrainingRun, run_id).steps  # type: ignore[union-attr]
    assert sorted(step["key"] for step in steps) == sorted(
        f"{name}-{n}" for name in ("train", "tune") for n in range(40)
    )
