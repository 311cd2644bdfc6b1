"""Content-addressed blob storage behind a small protocol."""

from docloop.storage.base import BlobStore
from docloop.storage.local import LocalBlobStore

__all__ = ["BlobStore", "LocalBlobStore"]
