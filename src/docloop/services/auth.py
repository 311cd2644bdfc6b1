"""Workspaces and API keys. Keys are random 256-bit secrets, stored only as SHA-256 digests
(a slow hash buys nothing for secrets with that much entropy, and lookups stay O(1))."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from docloop.db.tables import ApiKey, Workspace, utcnow
from docloop.errors import InvalidInput, NotFound, Unauthorized
from docloop.services.context import AppContext

DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: every query is scoped to ``workspace_id``.

    ``role`` decides what they may do (API keys act as admins of their workspace: they are
    programs an admin created); ``actor`` is the name kept with every change they make."""

    workspace_id: str
    key_id: str
    is_admin: bool
    role: str = "admin"
    actor: str = "cli"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    name: str
    workspace: str
    prefix: str
    is_admin: bool
    created_at: datetime
    revoked: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _workspace_id(ctx: AppContext, session, name: str) -> str:  # type: ignore[no-untyped-def]
    found = session.scalar(select(Workspace).where(Workspace.name == name))
    if found:
        return found.id
    ws = Workspace(id=uuid.uuid4().hex, name=name)
    session.add(ws)
    session.flush()
    return ws.id


def create_key(
    ctx: AppContext, *, name: str, workspace: str = DEFAULT_WORKSPACE, admin: bool = False
) -> str:
    """Create a key and return it in plain text: the only time it is ever shown."""
    return ensure_key(
        ctx, "dl_" + secrets.token_urlsafe(32), name=name, workspace=workspace, admin=admin
    )


def ensure_key(
    ctx: AppContext,
    key: str,
    *,
    name: str,
    workspace: str = DEFAULT_WORKSPACE,
    admin: bool = False,
) -> str:
    """Register ``key`` unless it exists already (used for the bootstrap key)."""
    if len(key) < 8:
        raise InvalidInput("an API key must be at least 8 characters long")
    digest = hash_key(key)
    try:
        with ctx.session() as s:
            if s.scalar(select(ApiKey).where(ApiKey.key_hash == digest)):
                return key
            s.add(
                ApiKey(
                    id=uuid.uuid4().hex,
                    workspace_id=_workspace_id(ctx, s, workspace),
                    name=name,
                    key_hash=digest,
                    prefix=key[:8],
                    is_admin=admin,
                )
            )
    except IntegrityError:  # another process registered the same key or workspace first
        with ctx.session() as s:
            if not s.scalar(select(ApiKey).where(ApiKey.key_hash == digest)):
                raise
    return key


def authenticate(ctx: AppContext, key: str | None) -> Principal:
    if not key:
        raise Unauthorized("missing API key: send it as the Basic auth user name")
    with ctx.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked API key")
        return Principal(row.workspace_id, row.id, row.is_admin, actor=f"api key {row.prefix}")


def list_keys(ctx: AppContext) -> list[KeyInfo]:
    with ctx.session() as s:
        rows = s.execute(
            select(ApiKey, Workspace.name).join(Workspace).order_by(ApiKey.created_at)
        ).all()
        return [
            KeyInfo(k.id, k.name, ws, k.prefix, k.is_admin, k.created_at, k.revoked_at is not None)
            for k, ws in rows
        ]


def revoke_key(ctx: AppContext, key_id_or_prefix: str) -> KeyInfo:
    with ctx.session() as s:
        rows = s.scalars(
            select(ApiKey).where(
                (ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix)
            )
        ).all()
        if len(rows) != 1:
            raise NotFound(f"no single key matches {key_id_or_prefix!r}")
        row = rows[0]
        row.revoked_at = row.revoked_at or utcnow()
        ws = s.get(Workspace, row.workspace_id)
        return KeyInfo(
            row.id, row.name, ws.name if ws else "?", row.prefix, row.is_admin, row.created_at, True
        )


def local_principal(ctx: AppContext, workspace: str = DEFAULT_WORKSPACE) -> Principal:
    """The CLI acts on the local database directly, as an admin of ``workspace``."""
    with ctx.session() as s:
        return Principal(_workspace_id(ctx, s, workspace), "cli", True)
