"""Mixed v2 traffic for `benchmarks/load_test.py`: what a team's scripts and reviewers send.

Each simulated user predicts (sync, and async followed by polling), lists the day's files, opens
one, corrects a page (PATCH) and approves files. Every request_file_id a prediction returned is
written to the ledger named by DOCLOOP_LOAD_LEDGER when the test stops, so the runner can count
the stored predictions against it.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

from bench_common import HEADERS, unique_jpeg
from locust import HttpUser, between, events, task

from docloop.samples import PLATES

MODEL = os.environ.get("DOCLOOP_LOAD_MODEL", "")
IMAGES = sorted((PLATES / "images").glob("*.jpg"))
LEDGER: list[str] = []
SALTS = count(random.randrange(1, 1 << 30))
ASYNC_WAIT_S = 120


@events.test_stop.add_listener
def _write_ledger(**_: object) -> None:
    path = os.environ.get("DOCLOOP_LOAD_LEDGER")
    if path:
        Path(path).write_text(json.dumps(LEDGER))


class Reviewer(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.client.headers.update(HEADERS)
        self.mine: list[str] = []

    def _upload(self) -> tuple[str, bytes]:
        path = random.choice(IMAGES)
        return path.name, unique_jpeg(path, next(SALTS))

    @task(4)
    def predict(self) -> None:
        name, data = self._upload()
        with self.client.post(
            f"/api/v2/OCR/Model/{MODEL}/LabelFile/",
            files={"file": (name, data)},
            name="LabelFile",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            ids = {p["request_file_id"] for p in r.json()["result"]}
            LEDGER.extend(ids)
            self.mine.extend(ids)

    @task(2)
    def predict_async(self) -> None:
        name, data = self._upload()
        r = self.client.post(
            f"/api/v2/OCR/Model/{MODEL}/LabelFile/Async/",
            files={"file": (name, data)},
            name="LabelFile/Async",
        )
        if r.status_code != 200:
            return
        file_id = r.json()["result"][0]["request_file_id"]
        LEDGER.append(file_id)
        deadline = time.monotonic() + ASYNC_WAIT_S
        while time.monotonic() < deadline:
            with self.client.get(
                f"/api/v2/Inferences/Model/{MODEL}/InferenceRequest/{file_id}",
                name="InferenceRequest (poll)",
                catch_response=True,
            ) as poll:
                status = poll.json().get("status") if poll.status_code == 200 else None
                if status == "done":
                    self.mine.append(file_id)
                    return
                if status not in ("pending", None):
                    poll.failure(f"async prediction {file_id} ended {status}")
                    return
            time.sleep(0.5)
        events.request.fire(
            request_type="ASYNC", name="async result in time", response_time=ASYNC_WAIT_S * 1000,
            response_length=0, exception=TimeoutError(f"{file_id} still pending"), context={},
        )  # fmt: skip

    @task(2)
    def list_today(self) -> None:
        day = (datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
        self.client.get(
            f"/api/v2/Inferences/Model/{MODEL}/ImageLevelInferences"
            f"?start_day_interval={day - 1}&current_batch_day={day}",
            name="ImageLevelInferences",
        )

    def _open_one(self) -> Any:
        """GET one of this user's predictions, or None before it has any."""
        if not self.mine:
            return None
        file_id = random.choice(self.mine)
        return self.client.get(
            f"/api/v2/Inferences/Model/{MODEL}/InferenceRequest/{file_id}",
            name="InferenceRequest",
        )

    @task(2)
    def open_one(self) -> None:
        self._open_one()

    @task(1)
    def correct(self) -> None:
        r = self._open_one()
        if r is None or r.status_code != 200:
            return
        page = r.json()["result"][0]
        boxes = [{**b, "ocr_text": f"FIX{random.randrange(1000)}"} for b in page["prediction"]]
        self.client.patch(
            f"/api/v2/Inferences/Model/{MODEL}/ImageLevelInference",
            json={"id": page["id"], "predicted_boxes": boxes, "change": {"action": "edit_text"}},
            name="ImageLevelInference (PATCH)",
        )

    @task(1)
    def approve(self) -> None:
        if self.mine:
            file_id = random.choice(self.mine)
            self.client.post(
                f"/api/v2/ImageLevelInferences/Model/{MODEL}/Verify/{file_id}", name="Verify"
            )
