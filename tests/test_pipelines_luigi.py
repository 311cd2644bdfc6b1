"""The Luigi pipeline against a live server: upload, train, evaluate, promote if better."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docloop.client import Client
from tests.live import docloop_server, plates_folder

luigi = pytest.importorskip("luigi", reason="needs the pipelines extra (.ci/run installs it)")
KEY = "test-admin-key"


@pytest.mark.slow
def test_the_pipeline_trains_and_serves_the_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docloop.pipelines.luigi_tasks import PromoteIfBetter

    with docloop_server(tmp_path / "home") as url:
        monkeypatch.setenv("DOCLOOP_URL", url)
        monkeypatch.setenv("DOCLOOP_API_KEY", KEY)
        with Client() as dl:
            model = dl.create_model(["number_plate"])
        task = PromoteIfBetter(
            model_id=model.id,
            folder=str(plates_folder(tmp_path / "plates", 10)),
            workdir=str(tmp_path / "run"),
        )
        assert luigi.build([task], local_scheduler=True, log_level="WARNING")
        result = json.loads((tmp_path / "run" / "PromoteIfBetter.json").read_text())
        uploaded = json.loads((tmp_path / "run" / "UploadFolder.json").read_text())
        with Client() as dl:
            served = dl.model(model.id)
    assert uploaded["files"] == 10
    assert result["candidate"] == 1 and result["promoted"] and result["now_serving"] == 1
    assert served.hosted and served.version == 1
