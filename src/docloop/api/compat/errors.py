"""Errors of the v2 API in Nanonets' error object, with docloop's own message.

Nanonets answers ``{"message", "code", "errors": [{"reason", "message"}]}`` and uses the status
codes of its reference: a file it cannot read is a 400 Bad Request there (docloop's native API
says 415), a model not in the caller's workspace a 404 worded "Model does not exists...".
"""

from __future__ import annotations

from typing import Any

from docloop.errors import DocloopError, UnsupportedMedia

PREFIX = "/api/v2/"
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           409: "Conflict", 413: "Payload Too Large", 503: "Service Unavailable"}  # fmt: skip


def status_and_body(exc: DocloopError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body a v2 client gets for ``exc``."""
    status = 400 if isinstance(exc, UnsupportedMedia) else exc.status_code
    return status, {
        "message": exc.message,
        "code": status,
        "errors": [{"reason": REASONS.get(status, "Error"), "message": exc.message}],
        "error": type(exc).__name__,
    }
