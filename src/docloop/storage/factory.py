"""The blob store a storage URL names: one opener per URL scheme, looked up in ``OPENERS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from docloop.errors import InvalidInput
from docloop.storage.base import BlobStore
from docloop.storage.cache import CachedBlobStore
from docloop.storage.local import LocalBlobStore


@dataclass(frozen=True)
class StoreOptions:
    """What an opener may need besides the URL."""

    endpoint_url: str | None = None
    cache_dir: Path | None = None  # None: no local cache
    cache_bytes: int = 0


def _open_file(url: str, options: StoreOptions) -> BlobStore:
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost") or not parsed.path:
        raise InvalidInput(f"a file storage URL is file:///absolute/path, not {url!r}")
    return LocalBlobStore(Path(unquote(parsed.path)))


def _open_s3(url: str, options: StoreOptions) -> BlobStore:
    from docloop.storage.s3 import S3BlobStore  # boto3 loads only when a bucket is used

    store: BlobStore = S3BlobStore(url, endpoint_url=options.endpoint_url)
    if options.cache_dir is not None and options.cache_bytes > 0:
        store = CachedBlobStore(store, options.cache_dir, options.cache_bytes)
    return store


OPENERS: dict[str, Callable[[str, StoreOptions], BlobStore]] = {
    "file": _open_file,
    "s3": _open_s3,
}


def open_store(url: str, options: StoreOptions | None = None) -> BlobStore:
    """The store at ``url``; ``InvalidInput`` naming the known schemes for any other."""
    scheme = urlparse(url).scheme
    opener = OPENERS.get(scheme)
    if opener is None:
        known = ", ".join(f"{s}://" for s in OPENERS)
        raise InvalidInput(f"unsupported storage URL {url!r}: use one of {known}")
    return opener(url, options or StoreOptions())
