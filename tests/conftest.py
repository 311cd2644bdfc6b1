"""Shared fixtures: an isolated home per test, SQLite always and PostgreSQL when configured."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from docloop.api.app import create_app
from docloop.config import Settings
from docloop.ml.engines.rapid import RapidOcrEngine
from docloop.samples import PLATES
from docloop.services import auth
from docloop.services.context import AppContext, build_context
from docloop.worker.loop import Worker

PG_ENV = "DOCLOOP_TEST_POSTGRES_URL"
_ENGINE = RapidOcrEngine()  # loaded once for the whole run


def _pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards."""
    import psycopg

    base = os.environ[PG_ENV]
    name = f"docloop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """Run a storage test on each backend; PostgreSQL only when its URL is given."""
    if request.param == "sqlite":
        yield None
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (a server URL; .ci/run sets it)")
    yield from _pg_database()


def make_settings(home: Path, database_url: str | None = None, **kw: object) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        bootstrap_api_key="test-admin-key",
        inprocess_worker=False,
        allow_private_urls=True,
        system_metrics_s=0.5,
        # Throwaway databases are migrated by the process that makes them (not on PostgreSQL
        # by default, where `docloop migrate` does it once per deployment).
        **{"auto_migrate": True, "train_epochs": 20, **kw},  # type: ignore[arg-type]
    )


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    context = build_context(make_settings(tmp_path / "home"), ocr=_ENGINE)
    yield context
    context.close()


@pytest.fixture
def db_ctx(tmp_path: Path, any_db_url: str | None) -> Iterator[AppContext]:
    context = build_context(make_settings(tmp_path / "home", any_db_url), ocr=_ENGINE)
    yield context
    context.close()


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
        yield c


def run_jobs(ctx: AppContext) -> int:
    return Worker(ctx, "test-worker").run(burst=True)


def sample_items(n: int) -> list[tuple[Path, list[dict]]]:
    ids = sorted(p.stem for p in (PLATES / "annotations").glob("*.json"))[:n]
    return [
        (
            PLATES / "images" / f"{i}.jpg",
            json.loads((PLATES / "annotations" / f"{i}.json").read_text()),
        )
        for i in ids
    ]


def upload_samples(ctx: AppContext, who: auth.Principal, model_id: str, n: int) -> None:
    """Upload the first ``n`` bundled plate photos with their annotations."""
    from docloop.services import datasets

    for path, objects in sample_items(n):
        datasets.add_files(
            ctx, who, model_id, [datasets.IncomingFile(path.name, path.read_bytes())],
            [{"filename": path.name, "object": objects}],
        )  # fmt: skip


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, str]]:
    """One small plate model trained for real on bundled images, shared by the API tests."""
    home = tmp_path_factory.mktemp("trained")
    # Two networks where the budget would buy three: the setting is obeyed (test_tracking).
    context = build_context(make_settings(home, train_members=2), ocr=_ENGINE)
    who = auth.authenticate(context, "test-admin-key")
    from docloop.services import models, training

    model = models.create_model(context, who, categories=["number_plate"])
    upload_samples(context, who, model.id, 16)
    training.request_training(context, who, model.id)
    run_jobs(context)
    yield context, model.id
    context.close()


@pytest.fixture
def trained_client(trained: tuple[AppContext, str]) -> Iterator[tuple[TestClient, str]]:
    context, model_id = trained
    with TestClient(
        create_app(context.settings, ctx=context), headers=basic("test-admin-key")
    ) as c:
        yield c, model_id


@pytest.fixture(scope="session")
def httpserver_url() -> Iterator[str]:
    """Serves bundled sample images, plus /redirect-loop and /slow for the URL error tests."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/redirect-loop"):
                self.send_response(302)
                self.send_header("Location", "/redirect-loop")
                self.end_headers()
                return
            if self.path.startswith("/slow"):
                time.sleep(3)
            target = PLATES / "images" / self.path.strip("/").split("?")[0]
            if not target.is_file():
                self.send_response(404)
                self.end_headers()
                return
            data = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# --- S3: moto's standalone server over HTTP, standing in for AWS S3 or MinIO ---------------


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def url(self, prefix: str) -> str:
        """A storage URL under a prefix of its own, so tests sharing the server stay apart."""
        return f"s3://{self.bucket}/{prefix}"


def start_moto(
    env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m moto.server`` on a free port of ``host``; the process and its endpoint URL."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the dev extra)")
    import httpx

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://{host}:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return proc, endpoint
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("moto's S3 server did not start within 30 s")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3 server with one bucket; credentials in the standard AWS variables, as in a pod."""
    proc, endpoint = start_moto()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "docloop-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "docloop-test-secret")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="docloop-test")
        try:
            yield S3Server(endpoint, "docloop-test")
        finally:
            proc.terminate()
            proc.wait(10)
