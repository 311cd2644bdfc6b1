"""People who sign in to the web app: accounts, roles, password checks and browser sessions.

Passwords are stored as scrypt digests (memory-hard, in the standard library) with their own
salt and cost parameters, so the cost can be raised later without invalidating old hashes.
A browser session is a random secret in an HttpOnly cookie, stored only as its SHA-256, with a
CSRF token that every write from the browser must echo back.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docloop.db.tables import User, WebSession, utcnow
from docloop.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from docloop.services.auth import DEFAULT_WORKSPACE, Principal, _workspace_id
from docloop.services.context import AppContext

ROLES = ("admin", "data_scientist", "annotator", "reviewer")
# What each role may do ("view": see the models at all). Admins may do everything, including
# managing people. Each route's permission is declared in api/permissions.py.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {"view", "models", "train", "data", "annotate", "review", "predict", "users"}
    ),
    "data_scientist": frozenset(
        {"view", "models", "train", "data", "annotate", "review", "predict"}
    ),
    "annotator": frozenset({"view", "annotate"}),
    "reviewer": frozenset({"view", "review", "predict"}),
}
SESSION_DAYS = 14
MIN_PASSWORD = 10
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    email: str
    csrf_token: str


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2**26)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            maxmem=2**26,
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def can(who: Principal, permission: str) -> bool:
    return can_role(who.role, permission)


def can_role(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())


def require(who: Principal, permission: str) -> None:
    if not can(who, permission):
        raise Forbidden(f"the {who.role} role may not do this ({permission})")


def create_user(
    ctx: AppContext, *, email: str, password: str, role: str, workspace: str = DEFAULT_WORKSPACE
) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 200:
        raise InvalidInput(f"{email!r} is not an email address")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    try:
        with ctx.session() as s:
            user = User(
                id=str(uuid.uuid4()), workspace_id=_workspace_id(ctx, s, workspace), email=email,
                role=role, password_hash=hash_password(password),
            )  # fmt: skip
            s.add(user)
            return user.id
    except IntegrityError:
        raise Conflict(f"a user {email} exists already") from None


def list_users(ctx: AppContext) -> list[dict[str, str | None]]:
    with ctx.session() as s:
        return [
            {"id": u.id, "email": u.email, "role": u.role,
             "disabled": u.disabled_at.isoformat() if u.disabled_at else None}
            for u in s.scalars(select(User).order_by(User.email))
        ]  # fmt: skip


def reviewer_email(session: Session, who: Principal, email: str) -> str:
    """``email`` normalised, if it names an active person of the caller's workspace whose role
    may review; a clear 400 naming it otherwise."""
    wanted = email.strip().lower()
    user = session.scalar(
        select(User).where(User.email == wanted, User.workspace_id == who.workspace_id)
    )
    if user is None or user.disabled_at is not None:
        raise InvalidInput(f"no one signs in as {wanted!r} here: assign the file to a user")
    if "review" not in PERMISSIONS.get(user.role, frozenset()):
        role = user.role.replace("_", " ")
        raise InvalidInput(f"{wanted!r} has the {role} role, which cannot review files")
    return wanted


def sign_in(ctx: AppContext, email: str, password: str) -> tuple[str, SignedIn]:
    """A new session's cookie secret and who it belongs to; one vague error for any failure."""
    with ctx.session() as s:
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        # Check a password even for unknown emails, so timing does not reveal which exist.
        ok = check_password(password, user.password_hash if user else _dummy_hash())
        if user is None or not ok or user.disabled_at is not None:
            raise Unauthorized("wrong email or password")
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        s.add(
            WebSession(
                id=_digest(secret), user_id=user.id, csrf_token=csrf,
                expires_at=utcnow() + timedelta(days=SESSION_DAYS),
            )
        )  # fmt: skip
        return secret, SignedIn(_principal(user), user.email, csrf)


def session_user(ctx: AppContext, secret: str | None) -> SignedIn:
    if not secret:
        raise Unauthorized("not signed in")
    with ctx.session() as s:
        row = s.get(WebSession, _digest(secret))
        user = s.get(User, row.user_id) if row else None
        expired = row is None or row.expires_at.replace(tzinfo=utcnow().tzinfo) < utcnow()
        if user is None or expired or user.disabled_at is not None:
            raise Unauthorized("your session has ended: sign in again")
        return SignedIn(_principal(user), user.email, row.csrf_token)  # type: ignore[union-attr]


def sign_out(ctx: AppContext, secret: str | None) -> None:
    if secret:
        with ctx.session() as s:
            s.execute(delete(WebSession).where(WebSession.id == _digest(secret)))


def set_role(ctx: AppContext, email: str, role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    with ctx.session() as s:
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {email}")
        user.role = role


def _principal(user: User) -> Principal:
    return Principal(user.workspace_id, f"user:{user.id}", user.role == "admin",
                     role=user.role, actor=user.email)  # fmt: skip


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
