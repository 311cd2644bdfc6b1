"""Records survive a round trip on each database backend (blobs: test_s3_storage)."""

from __future__ import annotations

import pytest

from docloop.errors import NotFound
from docloop.services import auth, datasets, models
from tests.conftest import sample_items


def test_models_files_and_keys_round_trip(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = auth.authenticate(db_ctx, "test-admin-key")
    m = models.create_model(db_ctx, who, categories=["number_plate", "other"])
    path, objects = sample_items(1)[0]
    datasets.add_files(
        db_ctx,
        who,
        m.id,
        [datasets.IncomingFile(path.name, path.read_bytes())],
        [{"filename": path.name, "object": objects}],
    )
    info = models.get_model(db_ctx, who, m.id)
    assert info.categories == [("number_plate", 1), ("other", 0)] and int(info.state) == 2
    key = auth.create_key(db_ctx, name="k", workspace="w2")
    other = auth.authenticate(db_ctx, key)
    assert other.workspace_id != who.workspace_id
    with pytest.raises(NotFound):
        models.get_model(db_ctx, other, m.id)
    auth.revoke_key(db_ctx, key[:8])
    with pytest.raises(Exception, match="revoked"):
        auth.authenticate(db_ctx, key)


def test_keys_are_stored_hashed(db_ctx) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from docloop.db.tables import ApiKey

    key = auth.create_key(db_ctx, name="secret")
    with db_ctx.session() as s:
        hashes = s.scalars(select(ApiKey.key_hash)).all()
    assert key not in hashes and auth.hash_key(key) in hashes


def test_migrations_build_exactly_the_tables_the_code_declares(db_ctx) -> None:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from docloop.db.tables import Base

    with db_ctx.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
