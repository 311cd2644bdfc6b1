"""The SDK's errors.

ClientError
├── ApiError          the server answered 4xx/5xx (after retries); has status_code and code
├── TransportFailed   no answer (connection refused, timeout) after retries
└── WaitTimeout       a wait for training or an export ran past its timeout
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the SDK raises."""


class ApiError(ClientError):
    """The server refused or failed a request; ``message`` is its one-line explanation."""

    def __init__(self, status_code: int, message: str, code: str = "") -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.code = code


class TransportFailed(ClientError):
    """The server could not be reached, even after the retries."""


class WaitTimeout(ClientError):
    """A wait ran past its timeout; the work goes on at the server."""
