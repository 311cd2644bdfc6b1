"""Dataset versions: one per distinct data, a diff between two, recorded by each training."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from docloop.db.tables import TrainingFile
from docloop.errors import NotFound
from docloop.services import auth, dataset_versions, datasets, models
from docloop.services.context import AppContext
from tests.conftest import sample_items


def _upload(ctx, who, model_id, items) -> None:  # type: ignore[no-untyped-def]
    for path, objects in items:
        datasets.add_files(
            ctx,
            who,
            model_id,
            [datasets.IncomingFile(path.name, path.read_bytes())],
            [{"filename": path.name, "object": objects}],
        )


def test_snapshots_are_shared_when_unchanged_and_diffed_when_not(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = auth.authenticate(db_ctx, "test-admin-key")
    m = models.create_model(db_ctx, who, categories=["number_plate"])
    items = sample_items(3)
    _upload(db_ctx, who, m.id, items[:2])
    files = dataset_versions.current_files(db_ctx, m.id)
    assert len(files) == 2
    first, _, created = dataset_versions.record(db_ctx, m.id, files)
    assert created
    assert dataset_versions.record(db_ctx, m.id, dataset_versions.current_files(db_ctx, m.id)) == (
        first,
        _,
        False,
    )

    _upload(db_ctx, who, m.id, items[2:])
    with db_ctx.session() as s:  # a reviewer's correction, as the review app will make it
        row = s.scalars(select(TrainingFile).where(TrainingFile.filename == items[0][0].name)).one()
        row.annotations = [{**row.annotations[0], "text": "CORRECTED1"}]
    second, _, _ = dataset_versions.record(
        db_ctx, m.id, dataset_versions.current_files(db_ctx, m.id)
    )
    assert second != first

    changes = dataset_versions.diff(db_ctx, who, m.id, first, second)
    assert [f.filename for f in changes.added] == [items[2][0].name]
    assert [f.filename for f in changes.reannotated] == [items[0][0].name]
    assert changes.removed == []
    back = dataset_versions.diff(db_ctx, who, m.id, second, first)
    assert [f.filename for f in back.removed] == [items[2][0].name]

    listed = dataset_versions.list_versions(db_ctx, who, m.id)
    assert [(v.id, v.files) for v in listed] == [(first, 2), (second, 3)]
    with pytest.raises(NotFound):
        dataset_versions.diff(db_ctx, who, m.id, first, "no-such-version")
    other = auth.authenticate(db_ctx, auth.create_key(db_ctx, name="k", workspace="w2"))
    with pytest.raises(NotFound):
        dataset_versions.list_versions(db_ctx, other, m.id)


def test_the_api_answers_a_diff_from_version_to_version(
    ctx: AppContext, client: TestClient
) -> None:
    who = auth.authenticate(ctx, "test-admin-key")
    m = models.create_model(ctx, who, categories=["number_plate"])
    items = sample_items(2)
    _upload(ctx, who, m.id, items[:1])
    first, _, _ = dataset_versions.record(ctx, m.id, dataset_versions.current_files(ctx, m.id))
    _upload(ctx, who, m.id, items[1:])
    second, _, _ = dataset_versions.record(ctx, m.id, dataset_versions.current_files(ctx, m.id))
    added = next(
        f for f in dataset_versions.current_files(ctx, m.id) if f["filename"] == items[1][0].name
    )
    found = client.get(
        f"/api/v1/models/{m.id}/datasets/diff", params={"old": first, "new": second}
    ).json()
    assert found == {
        "from": first, "to": second, "removed": [], "reannotated": [],
        "added": [{"filename": items[1][0].name, "blob_hash": added["blob_hash"]}],
    }  # fmt: skip
    listed = client.get(f"/api/v1/models/{m.id}/datasets").json()
    assert [(v["id"], v["files"], v["model_versions"]) for v in listed] == [
        (first, 1, []), (second, 2, []),
    ]  # fmt: skip
