"""Blobs as files under a folder, written atomically so a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from docloop.errors import NotFound, TransientError
from docloop.storage.base import content_hash


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise NotFound(f"no blob {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = content_hash(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {digest}") from None

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def check(self) -> None:
        """Create and remove a scratch file under the root: it fails as a blob write would."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".check-")
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise TransientError(f"blob folder {self.root} is not writable: {exc}") from None
