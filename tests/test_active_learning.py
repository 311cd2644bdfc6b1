"""The annotation queue: unannotated training files, most useful to annotate first."""

from __future__ import annotations

from sqlalchemy import delete

from docloop.db.tables import TrainingFile
from docloop.services import auth, datasets
from tests.conftest import sample_items


def test_the_annotation_queue_ranks_unannotated_files(trained, client) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from docloop.api.app import create_app
    from tests.conftest import basic

    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    items = sample_items(19)[16:]
    stored = datasets.add_files(
        ctx, who, model_id, [datasets.IncomingFile(p.name, p.read_bytes()) for p, _ in items], []
    )
    ids = {f["id"] for f in stored}
    try:
        with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
            every = c.get(f"/api/v1/models/{model_id}/annotation-queue", params={"n": 5}).json()
            assert {f["id"] for f in every} == ids, "only the files without annotations"
            scores = [f["usefulness"] for f in every]
            assert all(0 <= s <= 1 for s in scores) and scores[0] == max(scores), every
            two = c.get(f"/api/v1/models/{model_id}/annotation-queue", params={"n": 2}).json()
            assert two[0] == every[0] and len(two) == 2
            r = c.get(f"/api/v1/models/{model_id}/annotation-queue", params={"n": 0})
            assert r.status_code == 422
        # A model with no trained version cannot say what it doubts.
        fresh = client.post("/api/v1/models", json={"labels": ["number_plate"]}).json()
        r = client.get(f"/api/v1/models/{fresh['id']}/annotation-queue")
        assert r.status_code == 409 and "train" in r.json()["message"]
    finally:
        with ctx.session() as s:
            s.execute(delete(TrainingFile).where(TrainingFile.id.in_(ids)))
