"""A stopping worker hands a training back at once, its last epoch saved, and the next worker
resumes there; short jobs are finished. ``test_resume`` covers a worker killed without notice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from docloop.db.tables import Job, Model, TrainingRun
from docloop.domain import JobKind, JobStatus, ModelState
from docloop.services import auth, jobs, models, tracking, training
from docloop.services.context import AppContext, build_context
from docloop.worker.loop import Worker
from tests.cluster import saved_epochs
from tests.conftest import _ENGINE, make_settings, run_jobs, upload_samples

pytestmark = pytest.mark.slow

# Checkpoints on their own schedule only at the first epoch: a resume from any later epoch
# shows the state saved by the stop itself.
ONCE_AN_HOUR = 3600


def _queued_training(ctx: AppContext, files: int) -> tuple[auth.Principal, str]:
    who = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, who, categories=["number_plate"])
    upload_samples(ctx, who, model.id, files)
    run_jobs(ctx)  # OCR at upload, as the server does it
    training.request_training(ctx, who, model.id)
    return who, model.id


def _trained_epoch(ctx: AppContext) -> int:
    """The last epoch the training logs (in the store) report, 0 before the first."""
    with ctx.session() as s:
        runs = [r.mlflow_run_id for r in s.query(TrainingRun).all() if r.mlflow_run_id]
    epochs = [
        int(m)
        for run_id in runs
        for m in re.findall(r"train: member 1 epoch (\d+) ", tracking.run_log(ctx, run_id))
    ]
    return max(epochs, default=0)


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _train_job(ctx: AppContext) -> Job:
    with ctx.session() as s:
        [job] = s.query(Job).filter(Job.kind == JobKind.TRAIN.value).all()
        return job


def test_a_stopped_worker_hands_the_training_back_and_the_next_resumes_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = make_settings(
        home,
        train_epochs=40,
        train_members=1,
        checkpoint_every_s=ONCE_AN_HOUR,
        job_lease_s=60,
        run_log_flush_s=0,  # the test reads the epochs from the log as they are trained
    )
    ctx = build_context(settings, ocr=_ENGINE)
    who, model_id = _queued_training(ctx, 12)

    first = Worker(ctx, "first")
    thread = threading.Thread(target=first.run, kwargs={"max_jobs": 1})
    thread.start()
    _wait(lambda: _trained_epoch(ctx) >= 3, 300, "the first worker to train 3 epochs")
    first.stop()
    thread.join(60)
    assert not thread.is_alive()

    job = _train_job(ctx)
    assert (job.status, job.lease_owner, job.lease_expires_at, job.attempts) == (
        JobStatus.QUEUED.value, None, None, 0,
    )  # fmt: skip
    assert models.get_model(ctx, who, model_id).state == ModelState.QUEUED
    with ctx.session() as s:
        assert s.query(TrainingRun).one().status == "interrupted"
    # Saved on their own schedule at the first epoch only: a later one was saved by the stop.
    stopped_at = saved_epochs(ctx.blobs)[0]
    assert saved_epochs(ctx.blobs) == {0: stopped_at} and stopped_at >= 3

    assert Worker(ctx, "second").run(max_jobs=1) == 1  # claimed at once: no lease to wait out
    assert models.get_model(ctx, who, model_id).state == ModelState.HOSTED
    with ctx.session() as s:
        run = s.query(TrainingRun).one()
        assert run.status == "succeeded"
        log = tracking.run_log(ctx, run.mlflow_run_id)
    assert _train_job(ctx).attempts == 1  # the handed-back attempt did not count
    assert f"handed back: stopped after epoch {stopped_at} of member 1" in log
    assert f"resuming from saved epochs {{0: {stopped_at}}}" in log
    ctx.close()


def test_sigterm_ends_a_worker_process_at_once_and_its_training_is_claimable(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    ctx = build_context(make_settings(home), ocr=_ENGINE)
    _queued_training(ctx, 4)
    env = {
        **os.environ,
        "DOCLOOP_HOME": str(home),
        "DOCLOOP_TRAIN_EPOCHS": "1000",  # far longer than the test waits
        "DOCLOOP_TRAIN_MEMBERS": "1",
        "DOCLOOP_JOB_LEASE_S": "600",  # a lease that would outlast the test
        "DOCLOOP_CHECKPOINT_EVERY_S": str(ONCE_AN_HOUR),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "docloop.cli", "worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait(lambda: _trained_epoch(ctx) >= 2, 300, "the worker to train 2 epochs")
        sent = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        worker.kill()
    assert worker.returncode == 0, output
    assert took < 10, f"{took:.1f} s to stop"
    assert "handing a training back" in output
    claimed = jobs.claim(ctx, "next-worker")
    assert claimed is not None and claimed.kind == JobKind.TRAIN and claimed.attempts == 1
    with ctx.session() as s:
        assert s.get(Model, claimed.payload["model_id"]).train_state == "queued"
    ctx.close()


def test_sigterm_drains_the_server_and_its_worker_hands_the_training_back(
    tmp_path: Path,
) -> None:
    """`docloop serve`: a request in flight at SIGTERM gets its answer, the in-process worker
    hands its training back, and the process ends promptly."""
    import json
    import socket
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    from docloop.samples import PLATES
    from tests.conftest import basic

    fetching = threading.Event()
    image = sorted((PLATES / "images").iterdir())[-1]

    class SlowImage(BaseHTTPRequestHandler):
        """Serves a photo two seconds after the request: the upload that fetches it is in
        flight meanwhile."""

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            fetching.set()
            time.sleep(2)
            data = image.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    images = ThreadingHTTPServer(("127.0.0.1", 0), SlowImage)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    ctx = build_context(make_settings(home), ocr=_ENGINE)
    _, model_id = _queued_training(ctx, 4)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DOCLOOP_HOME": str(home),
        "DOCLOOP_ALLOW_PRIVATE_URLS": "true",
        "DOCLOOP_TRAIN_EPOCHS": "1000",
        "DOCLOOP_TRAIN_MEMBERS": "1",
        "DOCLOOP_JOB_LEASE_S": "600",
        "DOCLOOP_CHECKPOINT_EVERY_S": str(ONCE_AN_HOUR),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "docloop.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    answers: list[int] = []

    def upload() -> None:
        answers.append(
            httpx.post(
                f"http://127.0.0.1:{port}/api/v2/OCR/Model/{model_id}/UploadUrls/",
                data={
                    "urls": f"http://127.0.0.1:{images.server_address[1]}/{image.name}",
                    "data": json.dumps([{"filename": image.name, "object": []}]),
                },
                headers=basic("test-admin-key"), timeout=60,
            ).status_code
        )  # fmt: skip

    try:
        _wait(lambda: _trained_epoch(ctx) >= 2, 300, "the in-process worker to train 2 epochs")
        uploading = threading.Thread(target=upload)
        uploading.start()
        _wait(fetching.is_set, 60, "the upload to fetch its URL")
        sent = time.monotonic()
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
        took = time.monotonic() - sent
        uploading.join(60)
    finally:
        server.kill()
        images.shutdown()
    assert answers == [200], output
    assert server.returncode == -signal.SIGTERM, output  # uvicorn ends by the signal it got
    assert took < 15, f"{took:.1f} s to stop\n{output}"
    claimed = jobs.claim(ctx, "next-worker", [JobKind.TRAIN])
    assert claimed is not None and claimed.attempts == 1
    ctx.close()
