"""Blobs as files under a folder, written atomically so a crash never leaves half a file."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from docloop.errors import NotFound, StorageUnavailable
from docloop.storage.base import NAMED_ROOT, blob_key, check_digest, check_name, content_hash


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``path`` through a temporary file in its folder, then rename it into place.

    ``durable`` waits for the bytes to reach the disk first (blobs, which records point to);
    named objects skip it: a training saves one every few seconds, and the next save replaces
    it anyway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = root.resolve().as_uri()

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(check_digest(digest))

    def _named(self, name: str) -> Path:
        return self.root / NAMED_ROOT / check_name(name)

    def put(self, data: bytes) -> str:
        digest = content_hash(data)
        path = self._path(digest)
        if not path.exists():
            write_atomically(path, data)
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
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".check-"):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"blob folder {self.root} is not writable: {exc}") from exc

    def put_named(self, name: str, data: bytes) -> None:
        write_atomically(self._named(name), data, durable=False)

    def get_named(self, name: str) -> bytes | None:
        try:
            return self._named(name).read_bytes()
        except FileNotFoundError:
            return None

    def list_named(self, prefix: str) -> list[str]:
        folder = self._named(prefix)
        base = self.root / NAMED_ROOT
        return sorted(
            p.relative_to(base).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete_named(self, prefix: str) -> None:
        shutil.rmtree(self._named(prefix), ignore_errors=True)
