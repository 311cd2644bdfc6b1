"""Apply Alembic migrations programmatically, and tell whether a database is at the newest schema.

`docloop migrate` upgrades once per deployment; `serve` on the embedded SQLite default upgrades
by itself (see ``Settings.migrates_at_start``), and every process checks the schema before it
reports ready or claims a job.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

_HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (idempotent)."""
    command.upgrade(alembic_config(url), "head")


@cache
def head_revision() -> str:
    """The newest revision this docloop ships (read once: it cannot change while running)."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the migrations folder ships with the package"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def behind(engine: Engine) -> str | None:
    """None when the database is at this docloop's newest schema, else what an operator must do."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return None
    return (
        f"the database schema is at revision {current or 'none (an empty database)'} and this "
        f"docloop needs {head}: run `docloop migrate`"
    )
