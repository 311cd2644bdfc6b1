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
    actions = [(c["action"], c["version"]) for c in model_versions.history(db_ctx, who, m.id)]
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
