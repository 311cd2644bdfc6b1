"""Which version a model serves: the promotion gate, promote, rollback, and their history."""

from __future__ import annotations

import uuid

import pytest

from docloop.db.tables import Model, ModelVersion
from docloop.errors import Conflict, NotFound
from docloop.services import auth, model_versions, models


def _add_version(ctx, model_id: str, number: int, accuracy: float, *, force: bool = False) -> bool:  # type: ignore[no-untyped-def]
    """A trained version arriving as the training's register step adds it: through the gate."""
    with ctx.session() as s:
        model = s.get(Model, model_id)
        version = ModelVersion(
            id=str(uuid.uuid4()), model_id=model_id, number=number, artifact_hash="0" * 64,
            metrics={"val_text_accuracy": accuracy}, train_seconds=1.0,
        )  # fmt: skip
        s.add(version)
        s.flush()
        promoted, reason = model_versions.gate(s, model, version, force=force)
        if promoted:
            model_versions.set_production(
                s, model, version, action="auto", reason=reason, by="training"
            )
        return promoted


def test_a_worse_version_is_kept_out_of_production_unless_forced(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = auth.authenticate(db_ctx, "test-admin-key")
    m = models.create_model(db_ctx, who, categories=["total"])
    assert _add_version(db_ctx, m.id, 1, 0.80)
    assert _add_version(db_ctx, m.id, 2, 0.85)
    assert not _add_version(db_ctx, m.id, 3, 0.70)
    assert models.get_model(db_ctx, who, m.id).version == 2
    assert _add_version(db_ctx, m.id, 4, 0.60, force=True)
    assert models.get_model(db_ctx, who, m.id).version == 4


def test_promote_and_rollback_walk_the_history(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = auth.authenticate(db_ctx, "test-admin-key")
    m = models.create_model(db_ctx, who, categories=["total"])
    with pytest.raises(Conflict):
        model_versions.rollback(db_ctx, who, m.id)
    for n, acc in ((1, 0.5), (2, 0.6), (3, 0.7)):
        _add_version(db_ctx, m.id, n, acc)
    assert model_versions.rollback(db_ctx, who, m.id).version == 2
    assert model_versions.rollback(db_ctx, who, m.id).version == 1
    with pytest.raises(Conflict, match="no earlier served version"):
        model_versions.rollback(db_ctx, who, m.id)
    assert model_versions.promote(db_ctx, who, m.id, 3).version == 3
    assert model_versions.rollback(db_ctx, who, m.id).version == 1
    with pytest.raises(NotFound):
        model_versions.promote(db_ctx, who, m.id, 9)
    actions = [(c.action, c.version) for c in model_versions.history(db_ctx, who, m.id)]
    assert actions == [
        ("auto", 1), ("auto", 2), ("auto", 3), ("rollback", 2), ("rollback", 1),
        ("promote", 3), ("rollback", 1),
    ]  # fmt: skip


def test_production_switches_through_the_api_and_refuses_bad_requests(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, model_id = trained_client
    before = client.get(f"/api/v1/models/{model_id}").json()["version"]
    r = client.put(f"/api/v1/models/{model_id}/production", json={"version": before})
    assert r.status_code == 200 and r.json()["version"] == before
    r = client.put(f"/api/v1/models/{model_id}/production", json={"version": 99})
    assert r.status_code == 404 and "version 99" in r.json()["message"]
    r = client.put(f"/api/v1/models/{model_id}/production", json={"version": "latest"})
    assert r.status_code == 422
    history = client.get(f"/api/v1/models/{model_id}/production/history").json()
    assert history[0]["action"] == "auto" and history[0]["version"] == 1


def test_versions_are_compared_on_the_validation_pages_both_scored(db_ctx) -> None:  # type: ignore[no-untyped-def]
    pages_old = {f"p{i}": {"total": [i % 2 == 0, True]} for i in range(20)}  # 10 of 20 right
    pages_new = {f"p{i}": {"total": [i < 14, True]} for i in range(5, 30)}  # new pages too
    old = {"val_text_accuracy": 0.5, "val_pages": pages_old}
    new = {"val_text_accuracy": 0.4, "val_pages": pages_new}
    same = model_versions.compare(old, new)
    assert same == {"pages": 15, "old": round(7 / 15, 4), "new": round(9 / 15, 4)}
    assert model_versions.compare(old, {"val_text_accuracy": 0.9}) is None

    who = auth.authenticate(db_ctx, "test-admin-key")
    m = models.create_model(db_ctx, who, categories=["total"])
    with db_ctx.session() as s:
        model = s.get(Model, m.id)
        first = ModelVersion(id=str(uuid.uuid4()), model_id=m.id, number=1, artifact_hash="0" * 64,
                             metrics=old, train_seconds=1.0)  # fmt: skip
        second = ModelVersion(id=str(uuid.uuid4()), model_id=m.id, number=2,
                              artifact_hash="0" * 64, metrics=new, train_seconds=1.0)  # fmt: skip
        s.add_all([first, second])
        s.flush()
        model_versions.set_production(s, model, first, action="auto", reason="", by="t")
        # worse overall (0.4 < 0.5) but better on the same 15 pages: promoted
        promoted, reason = model_versions.gate(s, model, second, force=False)
        assert promoted and "15 validation pages both scored" in reason
    shown = models.get_model(db_ctx, who, m.id).versions
    assert shown[1]["compared_with_previous"]["pages"] == 15


def test_a_page_stays_in_its_fold_across_trainings() -> None:
    from docloop.domain import Box, OcrToken
    from docloop.ml.data import LabelledPage
    from docloop.ml.train import group_keys, split_pages

    word = [OcrToken("A", Box(0, 0, 1, 1), 1.0)]
    before = [LabelledPage(word, 9, 9, [], key=f"h{i}:0") for i in range(40)]
    after = (
        before[:20] + [LabelledPage(word, 9, 9, [], key=f"n{i}:0") for i in range(15)] + before[20:]
    )
    held_before = {p.key for p in split_pages(before, 10, 0, group_keys(before))[1]}
    held_after = {p.key for p in split_pages(after, 10, 0, group_keys(after))[1]}
    assert held_before and held_before <= held_after, "adding files does not reshuffle the folds"
