"""A worker killed with SIGKILL in the middle of a training is replaced, and the new worker
finishes the same run from its last finished step and last saved epoch, not from zero."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docloop.db.tables import TrainingRun
from docloop.domain import ModelState
from docloop.services import auth, models, tracking, training
from docloop.services.context import build_context
from tests.cluster import saved_epochs
from tests.conftest import _ENGINE, make_settings, run_jobs, upload_samples

pytestmark = pytest.mark.slow


def _worker(home: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCLOOP_HOME": str(home),
        "DOCLOOP_JOB_LEASE_S": "3",
        "DOCLOOP_WORKER_POLL_S": "0.2",
        "DOCLOOP_TRAIN_EPOCHS": "150",
        "DOCLOOP_CHECKPOINT_EVERY_S": "0",  # every epoch: the kill must find one saved
    }
    return subprocess.Popen(
        [sys.executable, "-m", "docloop.cli", "worker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_killed_worker_is_replaced_and_the_training_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = build_context(make_settings(home), ocr=_ENGINE)
    who = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, who, categories=["number_plate"])
    upload_samples(ctx, who, model.id, 12)
    run_jobs(ctx)  # OCR at upload, as the server does it
    training.request_training(ctx, who, model.id)

    first = _worker(home)
    try:
        saved = _wait(lambda: {m: e for m, e in saved_epochs(ctx.blobs).items() if e >= 20},
                      240, "the first worker to save epoch 20")  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
    assert models.get_model(ctx, who, model.id).state == ModelState.TRAINING

    second = _worker(home)
    try:
        _wait(lambda: models.get_model(ctx, who, model.id).state == ModelState.HOSTED,
              300, "the second worker to finish the training")  # fmt: skip
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    with ctx.session() as s:
        [run] = s.query(TrainingRun).all()
        # The steps beside the train step are recorded when they end.
        beside = [st["name"] for st in run.steps if st["name"] in training.SIDE_STEPS]
        steps = [
            (st["name"], st["cached"]) for st in run.steps if st["name"] not in training.SIDE_STEPS
        ]
        assert run.status == "succeeded" and run.model_version_id is not None
        mlflow_run_id = run.mlflow_run_id
    # The dead worker finished validate..examples; the new one took them from the cache.
    assert steps[:4] == [("validate", False), ("snapshot", False), ("ocr", False),
                         ("examples", False)]  # fmt: skip
    assert steps[4:8] == [("validate", True), ("snapshot", True), ("ocr", True),
                          ("examples", True)]  # fmt: skip
    assert [n for n, _ in steps[8:]] == ["train", "evaluate", "recognizer", "export", "register"]
    assert set(beside) == set(training.SIDE_STEPS)
    log = tracking.run_log(ctx, mlflow_run_id)
    assert "resuming training run" in log
    found = re.search(r"resuming from saved epochs (\{[^}]*\})", log)
    assert found, log
    resumed_at = ast.literal_eval(found.group(1))
    assert all(resumed_at[m] >= e for m, e in saved.items()), (saved, resumed_at)
    assert not saved_epochs(ctx.blobs), "checkpoints are removed once the train step is stored"
    ctx.close()
