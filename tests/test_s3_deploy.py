"""Machines that share only PostgreSQL and an S3 bucket: an API on home A takes the Nanonets
sample flow, a worker on home B starts the training and is killed mid-way, its home is wiped,
a worker on home C resumes the training from the bucket, and the API on home A predicts."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from docloop.api.app import create_app
from docloop.db.tables import TrainingRun
from docloop.services import auth, runs, tracking
from docloop.services.context import build_context
from docloop.services.training import SIDE_STEPS
from tests.cluster import saved_epochs, wait_until
from tests.conftest import (
    _ENGINE,
    PG_ENV,
    S3Server,
    _pg_database,
    basic,
    make_settings,
    sample_items,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"machines share a PostgreSQL database: set {PG_ENV} (.ci/run sets it)")
    yield from _pg_database()


def _worker(home: Path, db_url: str, storage_url: str, s3: S3Server) -> subprocess.Popen[bytes]:
    """A worker process on its own home, configured the way a container is: by environment."""
    env = {
        **os.environ,
        "DOCLOOP_HOME": str(home),
        "DATABASE_URL": db_url,
        "DOCLOOP_STORAGE_URL": storage_url,
        "DOCLOOP_S3_ENDPOINT_URL": s3.endpoint_url,
        "DOCLOOP_JOB_LEASE_S": "3",
        "DOCLOOP_WORKER_POLL_S": "0.2",
        "DOCLOOP_TRAIN_EPOCHS": "60",
        "DOCLOOP_TRAIN_MEMBERS": "1",
        "DOCLOOP_CHECKPOINT_EVERY_S": "0",  # every epoch: the kill must find one saved
    }
    with (home.parent / f"{home.name}.log").open("ab") as log:  # read when a wait fails
        return subprocess.Popen(
            [sys.executable, "-m", "docloop.cli", "worker"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL when the worker is still busy 30 s later (never left running)."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def test_api_and_workers_on_separate_homes_share_only_postgres_and_s3(
    tmp_path: Path, pg_url: str, s3_server: S3Server
) -> None:
    storage = s3_server.url(f"deploy-{uuid.uuid4().hex[:8]}")
    homes = {name: tmp_path / name for name in "abc"}
    api = build_context(
        make_settings(homes["a"], pg_url, storage_url=storage,
                      s3_endpoint_url=s3_server.endpoint_url),
        ocr=_ENGINE,
    )  # fmt: skip
    with TestClient(create_app(api.settings, ctx=api), headers=basic("test-admin-key")) as client:
        mid = client.post("/api/v2/OCR/Model/", json={"categories": ["number_plate"]}).json()[
            "model_id"
        ]
        items = sample_items(13)
        for path, objects in items[:12]:
            r = client.post(
                f"/api/v2/OCR/Model/{mid}/UploadFile/",
                files={
                    "file": (path.name, path.read_bytes()),
                    "data": ("", json.dumps([{"filename": path.name, "object": objects}])),
                    "modelId": ("", mid),
                },
            )
            assert r.status_code == 200, r.text
        assert client.post(f"/api/v2/OCR/Model/{mid}/Train/").json()["state"] == 3

        first = _worker(homes["b"], pg_url, storage, s3_server)
        try:
            saved = wait_until(
                lambda: {m: e for m, e in saved_epochs(api.blobs).items() if e >= 10},
                300, "the worker on home B to save epoch 10 in the bucket",
            )  # fmt: skip
            first.send_signal(signal.SIGKILL)
            first.wait()
        finally:
            first.kill()
        shutil.rmtree(homes["b"])  # the machine is gone, and its disk with it

        second = _worker(homes["c"], pg_url, storage, s3_server)
        try:
            wait_until(lambda: client.get(f"/api/v2/OCR/Model/{mid}").json()["state"] == 5,
                       400, "the worker on home C to finish the training")  # fmt: skip
        finally:
            _stop(second)

        path = items[12][0]
        r = client.post(
            f"/api/v2/OCR/Model/{mid}/LabelFile/", files={"file": (path.name, path.read_bytes())}
        )
        assert r.status_code == 200, r.text
        [page] = r.json()["result"]
        assert page["prediction"] and page["prediction"][0]["label"] == "number_plate"

        with api.session() as s:
            [run] = s.query(TrainingRun).all()
            # The steps beside the train step are recorded when they end.
            steps = [(st["name"], st["cached"]) for st in run.steps if st["name"] not in SIDE_STEPS]
            run_id, mlflow_run_id = run.id, run.mlflow_run_id
        # Home C found home B's finished steps in the bucket, and its saved epochs.
        assert steps[4:8] == [("validate", True), ("snapshot", True), ("ocr", True),
                              ("examples", True)], steps  # fmt: skip
        log = tracking.run_log(api, mlflow_run_id)
        assert "resuming training run" in log, log
        found = re.search(r"resuming from saved epochs (\{[^}]*\})", log)
        assert found, log
        resumed_at = ast.literal_eval(found.group(1))
        assert all(resumed_at[m] >= e for m, e in saved.items()), (saved, resumed_at)
        assert api.blobs.list_named("train") == [], "checkpoints go once the train step is stored"

        shown = runs.show_run(api, auth.authenticate(api, "test-admin-key"), run_id)
        assert shown.tracking_uri.startswith("postgresql")
        assert shown.artifact_uri.startswith(f"{storage}/mlartifacts/")
        assert "model/docloop-model.zip" in shown.artifacts
        for home in (homes["a"], homes["c"]):  # only caches on local disks, never the store
            assert not (home / "blobs").exists() and not (home / "pipeline").exists()
    api.close()
