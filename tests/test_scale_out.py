"""Scale-out on one machine: two API replicas and two workers, each a host of its own (a network
namespace with an empty home folder), sharing only a PostgreSQL server and an S3 server on the
test's private bridge. A client spreads the Nanonets sample flow and concurrent predictions over
both replicas; a worker dies mid-training and a replica mid-load (SIGKILL). Everything finishes,
every upload and prediction is stored exactly once, and only requests in flight on the killed
replica fail."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from docloop.storage.factory import StoreOptions, open_store
from tests.cluster import (
    Network,
    kill_host,
    private_network,
    private_postgres,
    saved_epochs,
    skip_without_namespaces,
    start_in,
    wait_until,
)
from tests.conftest import basic, sample_items, start_moto

pytestmark = pytest.mark.slow

KEY = "scale-out-admin-key"
PORT = 8000  # every replica has its own address, so all listen on the same port
UPLOADS = 10
PREDICTIONS = 24
CLIENTS = 4  # concurrent prediction requests
AWS = {
    "AWS_ACCESS_KEY_ID": "docloop-test",
    "AWS_SECRET_ACCESS_KEY": "docloop-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Cluster:
    """The hosts of the test and how to reach what they share."""

    network: Network
    db_url: str
    storage_url: str
    s3_endpoint: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, home: Path) -> dict[str, str]:
        """A host's configuration, the way a container gets it: environment only."""
        return {
            **os.environ,
            **AWS,
            "DOCLOOP_HOME": str(home),
            "DATABASE_URL": self.db_url,
            "DOCLOOP_STORAGE_URL": self.storage_url,
            "DOCLOOP_S3_ENDPOINT_URL": self.s3_endpoint,
            # This test process may have pointed MLflow at an earlier test's store.
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,
            "DOCLOOP_BOOTSTRAP_API_KEY": KEY,
            "DOCLOOP_JOB_LEASE_S": "8",  # a dead worker's training is taken over 8 s on
            "DOCLOOP_WORKER_POLL_S": "0.2",
            "DOCLOOP_TRAIN_EPOCHS": "15",
            "DOCLOOP_TRAIN_MEMBERS": "1",
            "DOCLOOP_CHECKPOINT_EVERY_S": "0",  # every epoch: the killed worker leaves one
            "DOCLOOP_OCR_ENGINES": "1",  # four hosts share two cores
        }

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """``docloop ARGS`` on host ``name``, with a new empty home."""
        self.network.add_host(name)
        home = self.logs / name
        home.mkdir()
        process = start_in(self.network.namespaces[name], args, self.env(home), self.log_of(name))
        self.processes[name] = process
        return process

    def log_of(self, name: str) -> Path:
        """Where host ``name``'s output goes (kept with the test's temporary folder)."""
        return self.logs / f"{name}.log"


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """The bridge, PostgreSQL and S3 on it; hosts started later are killed on the way out."""
    skip_without_namespaces()
    for name, value in AWS.items():  # this process reads the bucket too
        monkeypatch.setenv(name, value)
    with contextlib.ExitStack() as stack:
        network = stack.enter_context(private_network())
        db_url = stack.enter_context(private_postgres(network))
        moto, endpoint = start_moto(AWS, host=network.gateway)
        stack.callback(moto.wait, 10)
        stack.callback(moto.kill)
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="scale")
        logs = tmp_path / "hosts"
        logs.mkdir()
        hosts = Cluster(network, db_url, "s3://scale/docloop", endpoint, logs)
        try:
            yield hosts
        finally:
            for process in hosts.processes.values():
                kill_host(process)


@dataclass
class Failure:
    """A request that reached a replica and got no answer: where, what, and when it started."""

    replica: str
    what: str
    started: float
    error: str


class Balancer:
    """The client's round-robin over the replicas, as a load balancer does it: a replica that
    refuses the connection (the request never reached it) is left out and the request goes to
    the next; a request that reached a replica which then died is recorded, never retried (it
    may have been stored)."""

    def __init__(self, replicas: dict[str, str]) -> None:
        self.replicas = dict(replicas)
        self.down: set[str] = set()
        self.failures: list[Failure] = []
        self.served: dict[str, int] = dict.fromkeys(replicas, 0)
        self._turn = 0
        self._lock = threading.Lock()

    def _next(self) -> str:
        with self._lock:
            live = [name for name in self.replicas if name not in self.down]
            assert live, "every replica is down"
            self._turn += 1
            return live[self._turn % len(live)]

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response | None:
        for _ in range(len(self.replicas)):
            name = self._next()
            started = time.monotonic()
            try:
                with httpx.Client(
                    base_url=f"http://{self.replicas[name]}:{PORT}",
                    headers=basic(KEY), timeout=120,
                ) as client:  # fmt: skip
                    response = client.request(method, path, **kw)
            except httpx.ConnectError:
                with self._lock:
                    self.down.add(name)
                continue
            except httpx.TransportError as exc:
                with self._lock:
                    self.failures.append(Failure(name, f"{method} {path}", started, repr(exc)))
                return None
            with self._lock:
                self.served[name] += 1
            assert response.status_code == 200, (name, path, response.text)
            return response
        pytest.fail(f"no replica took {method} {path}")


def _rows(db_url: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """The rows of one query to the shared database, read from this machine."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, args).fetchall()


def _upload(lb: Balancer, model_id: str, path: Path, objects: list[dict]) -> None:
    """One annotated photo, the way Nanonets' own example sends it."""
    response = lb.request(
        "POST", f"/api/v2/OCR/Model/{model_id}/UploadFile/",
        files={
            "file": (path.name, path.read_bytes()),
            "data": ("", json.dumps([{"filename": path.name, "object": objects}])),
            "modelId": ("", model_id),
        },
    )  # fmt: skip
    assert response is not None, "an upload failed while no replica was killed"


def _kill_the_training_worker(hosts: Cluster, model_id: str) -> str:
    """Waits until a worker has saved a trained epoch, SIGKILLs that worker's host; its name."""
    store = open_store(hosts.storage_url, StoreOptions(endpoint_url=hosts.s3_endpoint))
    wait_until(lambda: any(e >= 2 for e in saved_epochs(store).values()), 240,
               "a worker to save its second trained epoch")  # fmt: skip
    [(owner,)] = _rows(
        hosts.db_url,
        "SELECT lease_owner FROM jobs WHERE kind = 'train' AND model_id = %s", model_id,
    )  # fmt: skip
    assert owner is not None, "the training ended before a worker could be killed during it"
    pid = int(owner.split(":")[1])  # owners are host:pid:random
    [name] = [n for n, p in hosts.processes.items() if p.pid == pid]
    kill_host(hosts.processes[name])
    return name


def test_replicas_and_workers_on_separate_hosts_survive_a_killed_worker_and_replica(
    hosts: Cluster,
) -> None:
    hosts.start("migrate", ["migrate"]).wait(120)
    assert hosts.processes.pop("migrate").returncode == 0, hosts.log_of("migrate").read_text()
    for name in ("api1", "api2"):  # 0.0.0.0 of its namespace: its own address only
        hosts.start(name, ["serve", "--no-worker", "--host", "0.0.0.0", "--port", str(PORT)])
    replicas = {name: hosts.network.addresses[name] for name in ("api1", "api2")}
    for name in ("worker1", "worker2"):
        hosts.start(name, ["worker"])
    for name, address in replicas.items():
        wait_until(lambda a=address: _ready(a), 180, f"{name} to be ready ({hosts.log_of(name)})")
    lb = Balancer(replicas)

    # The Nanonets sample flow, each call to the next replica.
    model = lb.request("POST", "/api/v2/OCR/Model/", json={"categories": ["number_plate"]})
    assert model is not None
    model_id = model.json()["model_id"]
    items = sample_items(UPLOADS + 1)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda item: _upload(lb, model_id, *item), items[:UPLOADS]))
    trained = lb.request("POST", f"/api/v2/OCR/Model/{model_id}/Train/")
    assert trained is not None and trained.json()["state"] == 3, trained
    killed_worker = _kill_the_training_worker(hosts, model_id)

    def hosted() -> bool:
        response = lb.request("GET", f"/api/v2/OCR/Model/{model_id}")
        assert response is not None
        assert response.json()["state"] != -1, response.json()
        return response.json()["state"] == 5

    survivor = "worker2" if killed_worker == "worker1" else "worker1"
    wait_until(hosted, 300, f"{survivor} to finish the training ({hosts.log_of(survivor)})")

    # Concurrent predictions over both replicas; api2 dies once a quarter are answered.
    photo = items[UPLOADS][0]
    answered: list[tuple[str, str]] = []  # (tag, request_file_id)
    quarter = threading.Event()

    def predict(tag: str) -> None:
        response = lb.request(
            "POST", f"/api/v2/OCR/Model/{model_id}/LabelFile/",
            files={"file": (photo.name, photo.read_bytes())},
            data={"request_metadata": tag},
        )  # fmt: skip
        if response is not None:
            [page] = response.json()["result"]
            answered.append((tag, page["request_file_id"]))
            if len(answered) >= PREDICTIONS // 4:
                quarter.set()

    tags = [f"scale-{uuid.uuid4().hex[:8]}" for _ in range(PREDICTIONS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(predict, tag) for tag in tags]
        assert quarter.wait(240), "a quarter of the predictions were never answered"
        kill_host(hosts.processes["api2"])
        killed_at = time.monotonic()  # later requests find its port closed
        for future in running:
            future.result(300)

    # Only requests in flight on the killed replica failed, and only it was left out.
    assert lb.down <= {"api2"}, lb.down
    assert all(f.replica == "api2" and f.started < killed_at for f in lb.failures), lb.failures
    assert len(lb.failures) <= CLIENTS, lb.failures
    assert len(answered) + len(lb.failures) == PREDICTIONS
    assert lb.served["api2"] > 0 and lb.served["api1"] > 0, lb.served

    # Every upload and every prediction is a row, once.
    files = _rows(hosts.db_url, "SELECT filename FROM training_files WHERE model_id = %s",
                  model_id)  # fmt: skip
    assert sorted(f for (f,) in files) == sorted(p.name for p, _ in items[:UPLOADS])
    stored = _rows(
        hosts.db_url,
        "SELECT request_metadata, id FROM inference_files WHERE model_id = %s", model_id,
    )  # fmt: skip
    stored_tags = [tag for tag, _ in stored]
    assert len(stored_tags) == len(set(stored_tags)), "a prediction was stored twice"
    assert set(answered) <= set(stored), "an answered prediction was not stored"
    lost = set(stored_tags) - {tag for tag, _ in answered}
    assert len(lost) <= len(lb.failures), (lost, lb.failures)  # stored, answer lost in the kill
    [(attempts, status)] = _rows(
        hosts.db_url,
        "SELECT attempts, status FROM jobs WHERE kind = 'train' AND model_id = %s", model_id,
    )  # fmt: skip
    assert (attempts, status) == (2, "succeeded"), hosts.log_of(survivor).read_text()
    print(
        f"\nkilled {killed_worker} mid-training and api2 mid-load; served {lb.served}, "
        f"{len(lb.failures)} in flight on api2 failed, {len(lost)} of them stored"
    )


def _ready(address: str) -> bool:
    """``/readyz`` says 200: database, bucket and OCR engine ready (the first call loads it)."""
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"http://{address}:{PORT}/readyz", timeout=30).status_code == 200
    return False
