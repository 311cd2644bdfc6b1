"""Content-addressed blob storage behind a small protocol, on local disk or in a bucket."""

from docloop.storage.base import BlobStore
from docloop.storage.cache import CachedBlobStore
from docloop.storage.factory import OPENERS, StoreOptions, open_store
from docloop.storage.local import LocalBlobStore

__all__ = [
    "OPENERS",
    "BlobStore",
    "CachedBlobStore",
    "LocalBlobStore",
    "StoreOptions",
    "open_store",
]
