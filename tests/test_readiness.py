"""``/healthz`` is liveness without I/O; ``/readyz`` names each dependency that is not ready."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docloop.api.app import create_app
from docloop.cli import app as cli
from docloop.config import Settings
from docloop.db.engine import make_engine
from docloop.db.migrate import head_revision, upgrade
from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine
from docloop.services.context import AppContext, build_context
from docloop.worker.loop import wait_for_schema
from tests.conftest import _ENGINE, PG_ENV, _pg_database, make_settings


def _readyz(ctx: AppContext) -> tuple[int, dict]:  # type: ignore[type-arg]
    with TestClient(create_app(ctx.settings, ctx=ctx)) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive whatever readiness says
    return response.status_code, response.json()


def _failed(body: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {name: c["detail"] for name, c in body["checks"].items() if not c["ok"]}


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[AppContext]:
    context = build_context(make_settings(tmp_path / "home"), ocr=_ENGINE)
    yield context
    context.close()


def test_ready_reports_each_check(fresh: AppContext) -> None:
    status, body = _readyz(fresh)
    assert status == 200 and body["status"] == "ready", body
    assert set(body["checks"]) == {"database", "storage", "ocr"}
    assert head_revision() in body["checks"]["database"]["detail"]


def test_unreachable_database_is_not_ready(fresh: AppContext, tmp_path: Path) -> None:
    fresh.engine = make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'docloop.db'}")
    status, body = _readyz(fresh)
    assert status == 503 and body["status"] == "not ready"
    assert list(_failed(body)) == ["database"], body
    assert "unable to open database" in _failed(body)["database"]


def test_a_schema_behind_is_not_ready_until_docloop_migrate(tmp_path: Path) -> None:
    """A replica that must not migrate by itself names the command that will make it ready."""
    home = tmp_path / "home"
    ctx = build_context(make_settings(home, auto_migrate=False), ocr=_ENGINE)
    try:
        status, body = _readyz(ctx)
        assert status == 503 and list(_failed(body)) == ["database"], body
        assert "run `docloop migrate`" in _failed(body)["database"]
        migrated = CliRunner().invoke(cli, ["migrate", "--home", str(home)])
        assert migrated.exit_code == 0, migrated.output
        assert migrated.stdout.strip() == f"database at revision {head_revision()}"
        assert _readyz(ctx)[0] == 200
    finally:
        ctx.close()


def test_unwritable_blob_store_is_not_ready(fresh: AppContext) -> None:
    root = (fresh.settings.home / "blobs").resolve()
    shutil.rmtree(root)
    root.write_text("a file where the blob folder should be")  # unwritable even for root
    status, body = _readyz(fresh)
    assert status == 503 and list(_failed(body)) == ["storage"], body
    assert f"blob folder {root} is not writable" in _failed(body)["storage"]


def test_ocr_engine_that_cannot_load_is_not_ready(fresh: AppContext, tmp_path: Path) -> None:
    cache = tmp_path / "model-cache"
    cache.write_text("a file where the engine writes its recognizer")
    fresh.ocr = RapidOcrEngine(OcrProfile(charset="latin", engines=1), cache_dir=cache)
    status, body = _readyz(fresh)
    assert status == 503 and list(_failed(body)) == ["ocr"], body
    assert str(cache) in _failed(body)["ocr"]


def test_only_the_embedded_database_migrates_at_start_by_default(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).migrates_at_start
    assert not Settings(home=tmp_path, database_url="postgresql://db/docloop").migrates_at_start
    assert Settings(
        home=tmp_path, database_url="postgresql://db/docloop", auto_migrate=True
    ).migrates_at_start


def test_a_worker_waits_for_the_schema_before_it_claims(tmp_path: Path) -> None:
    ctx = build_context(make_settings(tmp_path / "home", auto_migrate=False), ocr=_ENGINE)
    stop, outcome = threading.Event(), []
    waiting = threading.Thread(target=lambda: outcome.append(wait_for_schema(ctx, stop, 0.05)))
    waiting.start()
    time.sleep(0.5)
    assert waiting.is_alive() and not outcome
    upgrade(ctx.settings.sqlalchemy_url)
    waiting.join(10)
    assert outcome == [True]
    ctx.close()
    empty = build_context(make_settings(tmp_path / "other", auto_migrate=False), ocr=_ENGINE)
    stop.set()  # a worker asked to stop while it waits returns without claiming
    assert wait_for_schema(empty, stop) is False
    empty.close()


def test_postgresql_replicas_wait_for_docloop_migrate(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (a server URL; .ci/run sets it)")
    for url in _pg_database():
        ctx = build_context(make_settings(tmp_path / "home", url, auto_migrate=None), ocr=_ENGINE)
        try:
            status, body = _readyz(ctx)  # an empty database: the replica did not migrate it
            assert status == 503 and "run `docloop migrate`" in _failed(body)["database"]
            monkeypatch.setenv("DATABASE_URL", url)
            migrated = CliRunner().invoke(cli, ["migrate", "--home", str(tmp_path / "job")])
            assert migrated.exit_code == 0, migrated.output
            assert _readyz(ctx)[0] == 200
        finally:
            ctx.close()
