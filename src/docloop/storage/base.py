"""The storage contract: blobs are named by the SHA-256 of their bytes and never change."""

from __future__ import annotations

import hashlib
from typing import Protocol


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data`` and return its hash; storing the same bytes twice is a no-op."""
        ...

    def get(self, digest: str) -> bytes:
        """Return the bytes for ``digest``; raises ``NotFound`` when absent."""
        ...

    def exists(self, digest: str) -> bool: ...

    def check(self) -> None:
        """Return when the store can be written now; raises a ``DocloopError`` saying why not.

        ``/readyz`` calls it, so it must be cheap and leave no blob behind."""
        ...
