"""The SDK against a live server: the whole loop, the async client, errors and retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from docloop.cli import app
from docloop.client import ApiError, AsyncClient, Client, Retry, TransportFailed
from docloop.samples import PLATES
from tests.live import docloop_server, plates_folder

KEY = "test-admin-key"
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with docloop_server(tmp_path_factory.mktemp("sdk")) as url:
        yield url


@pytest.mark.slow
def test_create_upload_train_predict_review_export(server: str, tmp_path: Path) -> None:
    folder = plates_folder(tmp_path / "plates", 12)
    seen: list[tuple[int, int, str]] = []
    with Client(server, KEY) as dl:
        model = dl.create_model(["number_plate"], name="sdk plates")
        assert model.state == 0 and model.categories[0].name == "number_plate"
        stored = dl.upload_folder(model.id, folder, progress=lambda *a: seen.append(a))
        assert len(stored) == 12 and all(f.objects >= 1 for f in stored)
        assert seen[-1][:2] == (12, 12) and [s[0] for s in seen] == list(range(1, 13))
        assert dl.train(model.id).state == 3
        trained = dl.wait(model.id, timeout=600, poll=0.5)
        assert trained.hosted, trained.status
        assert trained.version == 1
        pages = dl.predict(model.id, PLATES / "unseen" / "135.jpg")
        assert len(pages) == 1 and pages[0].width > 0
        assert any(f.label == "number_plate" and f.text for f in pages[0].fields)
        file_id = pages[0].file_id
        assert dl.review_next(model.id) == file_id
        [queued] = dl.review_queue(model.id)  # most useful first, waiting files only
        assert queued.id == file_id and 0 <= (queued.usefulness or -1) <= 1
        assert dl.review_next(model.id, sort="usefulness") == file_id
        assert dl.annotation_queue(model.id) == [], "every training file is annotated"
        assert dl.approve(model.id, file_id)[0].moderated
        assert dl.prediction(model.id, file_id)[0].fields == pages[0].fields
        today = datetime.now(UTC).date()
        started = dl.export(model.id, "json", today, today)
        done = dl.wait_export(started.id, timeout=120, poll=0.2)
        assert done.status == "done" and done.rows == 1, done
        rows = json.loads(dl.download_export(done.id))
        assert rows[0]["request_file_id"] == file_id and rows[0]["moderated"] == "approved"
        assert dl.runs(model.id)[0]["model_version"] == 1
        assert dl.promote(model.id, 1).version == 1
        assert [m.id for m in dl.models()] == [model.id]
    remote = runner.invoke(
        app, ["predict", model.id[:8], str(PLATES / "unseen" / "135.jpg"), "--url", server],
        env={"DOCLOOP_API_KEY": KEY},
    )  # fmt: skip
    assert remote.exit_code == 0 and f"url: {server}" in remote.stderr, remote.output
    assert json.loads(remote.stdout)["result"][0]["prediction"][0]["label"] == "number_plate"
    env = {"DOCLOOP_API_KEY": KEY}
    listed = runner.invoke(app, ["annotate-next", model.id[:8], "--url", server], env=env)
    assert listed.exit_code == 0 and listed.stdout == "", listed.output  # all annotated
    refused = runner.invoke(app, ["annotate-next", model.id, "-n", "0", "--url", server], env=env)
    assert refused.exit_code == 2 and "the server said 422" in refused.stderr, refused.output


def test_the_cli_acts_on_a_remote_server(server: str, tmp_path: Path) -> None:
    env = {"DOCLOOP_URL": server, "DOCLOOP_API_KEY": KEY}
    created = runner.invoke(app, ["models", "create", "--labels", "number_plate"], env=env)
    assert created.exit_code == 0 and created.stderr.startswith(f"url: {server}"), created.output
    model_id = created.stdout.strip()
    folder = plates_folder(tmp_path / "two", 2)
    uploaded = runner.invoke(app, ["upload", str(folder), "-m", model_id[:8]], env=env)
    assert uploaded.exit_code == 0 and "uploaded 2 file(s)" in uploaded.stdout, uploaded.output
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"], env=env).stdout)
    assert {m["id"]: m["files"] for m in listed}[model_id] == 2
    refused = runner.invoke(app, ["models", "list"], env={**env, "DOCLOOP_API_KEY": "wrong"})
    assert refused.exit_code == 2 and "the server said 401" in refused.stderr


def test_async_client_and_errors(server: str) -> None:
    async def main() -> None:
        async with AsyncClient(server, KEY) as dl:
            model = await dl.create_model(["total", "date"])
            assert (await dl.model(model.id)).categories[1].name == "date"
            with pytest.raises(ApiError) as missing:
                await dl.model("no-such-model")
            assert missing.value.status_code == 404 and "no-such-model" in missing.value.message

    asyncio.run(main())
    with Client(server, "wrong-key") as dl, pytest.raises(ApiError) as refused:
        dl.models()
    assert refused.value.status_code == 401


def test_url_and_key_from_the_environment(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCLOOP_URL", server)
    monkeypatch.setenv("DOCLOOP_API_KEY", KEY)
    with Client() as dl:
        assert dl.url == server and isinstance(dl.models(), list)


def test_429_and_5xx_are_retried_with_back_off() -> None:
    answers = iter([503, 429, 200])
    seen: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        status = next(answers)
        headers = {"Retry-After": "0"} if status == 429 else {}
        return httpx.Response(status, json=[] if status == 200 else {"message": "busy"},
                              headers=headers)  # fmt: skip

    retry = Retry(attempts=3, backoff=0.01)
    with Client(
        "http://docloop.test", KEY, retry=retry, transport=httpx.MockTransport(flaky)
    ) as dl:
        assert dl.models() == []
    assert len(seen) == 3
    assert retry.delay(0, httpx.Response(500)) == 0.01
    assert retry.delay(1, httpx.Response(503)) == 0.02
    assert retry.delay(0, httpx.Response(404)) is None
    assert retry.delay(2, httpx.Response(503)) is None
    unreachable = Client("http://127.0.0.1:9", KEY, retry=Retry(attempts=2, backoff=0.01))
    with unreachable as dl, pytest.raises(TransportFailed):
        dl.models()


def test_the_public_names_are_the_declared_ones() -> None:
    import docloop.client

    public = {n for n in vars(docloop.client) if not n.startswith("_")}
    assert public == set(docloop.client.__all__)
