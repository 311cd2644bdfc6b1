"""docloop's Python SDK: ``Client`` (sync) and ``AsyncClient`` over the native API.

Both retry 429, 5xx and connection failures with back-off, return typed results and read
``DOCLOOP_URL`` and ``DOCLOOP_API_KEY`` when no URL or key is passed.
"""

from docloop.client._client import AsyncClient, Client, Retry
from docloop.client._errors import ApiError, ClientError, TransportFailed, WaitTimeout
from docloop.client._types import (
    Category,
    Export,
    Field,
    Model,
    Page,
    QueuedFile,
    UploadedFile,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "Category",
    "Client",
    "ClientError",
    "Export",
    "Field",
    "Model",
    "Page",
    "QueuedFile",
    "Retry",
    "TransportFailed",
    "UploadedFile",
    "WaitTimeout",
]
