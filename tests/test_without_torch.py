"""Serving runs on ONNX Runtime alone: PyTorch is the ``docloop[train]`` extra.

The docloop-api image has no PyTorch, so the prediction path must never import it, and a
worker without it must leave training jobs to one that has it instead of failing them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docloop.db.tables import Job
from docloop.domain import JobKind, JobStatus
from docloop.errors import InvalidInput
from docloop.samples import PLATES
from docloop.services import jobs, training
from docloop.worker.loop import Worker

# Runs in a fresh interpreter: the app's synchronous and asynchronous prediction paths and a
# prediction worker, then reports whether anything imported torch.
_PREDICT_SCRIPT = """
import base64, json, sys
from fastapi.testclient import TestClient
from docloop.api.app import create_app
from docloop.config import Settings
from docloop.domain import JobKind
from docloop.services.context import build_context
from docloop.worker.loop import Worker

home, model_id, image = sys.argv[1:4]
settings = Settings(home=home, bootstrap_api_key="test-admin-key", inprocess_worker=False,
                    ocr_processes=False, ocr_engines=1)
ctx = build_context(settings)
key = base64.b64encode(b"test-admin-key:").decode()
app = create_app(settings, ctx=ctx)
with TestClient(app, headers={"Authorization": f"Basic {key}"}) as client:
    photo = open(image, "rb").read()
    url = f"/api/v2/OCR/Model/{model_id}/LabelFile/"
    sync = client.post(url, files={"file": ("p.jpg", photo)})
    queued = client.post(url + "Async/", files={"file": ("p.jpg", photo)})
    rid = queued.json()["result"][0]["request_file_id"]
    ran = Worker(ctx, "no-torch", [JobKind.PREDICT, JobKind.OCR]).run(burst=True)
    done = client.get(f"/api/v2/Inferences/Model/{model_id}/InferenceRequest/{rid}").json()
print(json.dumps({
    "sync": [sync.status_code, len(sync.json()["result"][0]["prediction"])],
    "async": [ran, done["status"]],
    "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
}))
ctx.close()
"""


@pytest.mark.slow
def test_the_prediction_path_never_imports_torch(trained) -> None:  # type: ignore[no-untyped-def]
    context, model_id = trained
    photo = sorted((PLATES / "unseen").iterdir())[0]
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", _PREDICT_SCRIPT, str(context.settings.home), model_id, str(photo)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": src},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["sync"][0] == 200 and report["sync"][1] >= 1
    assert report["async"] == [1, "done"]
    assert report["torch"] == []


def test_a_worker_without_torch_leaves_training_jobs_queued(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(training, "can_train", lambda: False)
    worker = Worker(ctx, "serving-only")
    assert worker.kinds is not None and JobKind.TRAIN not in worker.kinds
    with ctx.session() as s:
        job_id = jobs.enqueue(s, JobKind.TRAIN, {"model_id": "m"}, model_id=None, max_attempts=1).id
    assert worker.run(burst=True) == 0
    with ctx.session() as s:
        assert s.get(Job, job_id).status == JobStatus.QUEUED


def test_a_training_only_worker_without_torch_refuses_to_start(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(training, "can_train", lambda: False)
    with pytest.raises(InvalidInput, match="PyTorch is not installed"):
        Worker(ctx, "trainer", [JobKind.TRAIN])
