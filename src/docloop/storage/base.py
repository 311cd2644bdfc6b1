"""The storage contract.

Blobs are named by the SHA-256 of their bytes and never change, so writing one twice (two
workers finishing the same step) stores the same bytes and is harmless. Beside them, a few
*named* objects hold state that changes while keeping its name (a training's latest checkpoint,
a run's log); each write replaces the whole object at once, so a reader sees the old or the
new version, never a mix.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from docloop.errors import InvalidInput, NotFound

# A named object's name: slash-separated parts of letters, digits, dots, dashes, underscores.
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """``digest`` if it is a blob name; ``NotFound`` otherwise (never a path outside the store)."""
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise NotFound(f"no blob {digest!r}")
    return digest


def check_name(name: str) -> str:
    """``name`` if it is a valid named-object name (no ``..``, no leading slash)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid stored object name {name!r}")
    return name


def blob_key(digest: str) -> str:
    """A blob's place relative to the store's root; the same layout on disk and in a bucket,
    so a local store copied into a bucket (``aws s3 sync``) is a valid remote store."""
    return f"{digest[:2]}/{digest}"


NAMED_ROOT = "named"
MLFLOW_ROOT = "mlartifacts"


class BlobStore(Protocol):
    url: str
    """Where the store lives (``file:///...`` or ``s3://bucket/prefix``), for MLflow's
    artifact location and messages."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its hash; storing the same bytes twice is a no-op."""
        ...

    def get(self, digest: str) -> bytes:
        """Return the bytes for ``digest``; raises ``NotFound`` when absent."""
        ...

    def exists(self, digest: str) -> bool: ...

    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the store can be reached and written now."""
        ...

    def put_named(self, name: str, data: bytes) -> None:
        """Replace the named object ``name`` with ``data`` in one step."""
        ...

    def get_named(self, name: str) -> bytes | None:
        """The named object's bytes, or None when there is none."""
        ...

    def list_named(self, prefix: str) -> list[str]:
        """Names of the named objects under ``prefix/``, sorted."""
        ...

    def delete_named(self, prefix: str) -> None:
        """Delete every named object under ``prefix/``."""
        ...
