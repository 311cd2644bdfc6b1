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
