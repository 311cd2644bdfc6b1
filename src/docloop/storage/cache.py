"""A local read-through cache in front of a remote store, for blobs read again and again
(model bundles, page images, step outputs).

Blobs never change, so a cached copy is never stale: the cache needs no invalidation, only a
size limit. It is disposable: a process may lose the folder at any time (a new pod, a wiped
disk) and reads simply go to the remote store again. Named objects change, so they bypass it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from docloop.errors import NotFound
from docloop.storage.base import BlobStore, blob_key
from docloop.storage.local import LocalBlobStore


class CachedBlobStore:
    """``remote`` with copies of the blobs it wrote or read under ``folder``, at most
    ``max_bytes`` of them; the least recently used go first."""

    def __init__(self, remote: BlobStore, folder: Path, max_bytes: int) -> None:
        self.remote = remote
        self.local = LocalBlobStore(folder)
        self.url = remote.url
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # counted on first use, then kept up to date

    def _files(self) -> list[os.DirEntry[str]]:
        found = []
        for shard in os.scandir(self.local.root):
            if shard.is_dir() and len(shard.name) == 2:
                found += [e for e in os.scandir(shard.path) if not e.name.startswith(".")]
        return found

    def _keep(self, digest: str, data: bytes) -> None:
        """Copy a blob into the cache and evict the least recently used beyond the limit."""
        try:
            if self.local.exists(digest):
                return
            self.local.put(data)
            with self._lock:
                if self._size is None:
                    self._size = sum(e.stat().st_size for e in self._files())
                else:
                    self._size += len(data)
                if self._size <= self.max_bytes:
                    return
                entries = sorted(self._files(), key=lambda e: e.stat().st_mtime)
                for entry in entries:
                    if self._size <= self.max_bytes * 0.9:
                        break
                    with contextlib.suppress(OSError):
                        self._size -= entry.stat().st_size
                        os.unlink(entry.path)
        except OSError:
            pass  # a full or vanished cache folder costs a remote read, never a failure

    def put(self, data: bytes) -> str:
        digest = self.remote.put(data)
        self._keep(digest, data)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            data = self.local.get(digest)
            with contextlib.suppress(OSError):
                os.utime(self.local.root / blob_key(digest))  # recently used: evicted last
            return data
        except (NotFound, OSError):
            pass
        data = self.remote.get(digest)
        self._keep(digest, data)
        return data

    def exists(self, digest: str) -> bool:
        return self.local.exists(digest) or self.remote.exists(digest)

    def check(self) -> None:
        self.remote.check()

    def put_named(self, name: str, data: bytes) -> None:
        self.remote.put_named(name, data)

    def get_named(self, name: str) -> bytes | None:
        return self.remote.get_named(name)

    def list_named(self, prefix: str) -> list[str]:
        return self.remote.list_named(prefix)

    def delete_named(self, prefix: str) -> None:
        self.remote.delete_named(prefix)
