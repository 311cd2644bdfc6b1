"""One error tree for the whole product, translated to HTTP/CLI output only at the edges.

DocloopError
├── InvalidInput        (400)  the request or file cannot be used as sent
│   └── UnsupportedMedia (415) bytes are not an image or PDF we read
├── Unauthorized        (401)  missing or unknown API key
├── Forbidden           (403)  key known but lacks the right
│   └── UnderBlindReview (403) the caller's open second review hides the file's decision
├── NotFound            (404)  unknown id, or one of another workspace
├── Conflict            (409)  the resource is not in a state that allows this
├── PayloadTooLarge     (413)
└── TransientError      (503)  worth retrying (network, lease lost)
    ├── Interrupted     (503)  the worker is stopping: the job goes back to the queue
    └── StorageUnavailable      the object store cannot be reached, read or written
"""

from __future__ import annotations


class DocloopError(Exception):
    """Base error; ``retryable`` tells workers whether another attempt can help."""

    status_code = 500
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DocloopError):
    status_code = 400


class UnsupportedMedia(InvalidInput):
    status_code = 415


class Unauthorized(DocloopError):
    status_code = 401


class Forbidden(DocloopError):
    status_code = 403


class UnderBlindReview(Forbidden):
    """The caller has an open second review of the file: until they submit it, nothing may
    show them the first reviewer's decision (services/second_review.py)."""


class NotFound(DocloopError):
    status_code = 404


class Conflict(DocloopError):
    status_code = 409


class PayloadTooLarge(DocloopError):
    status_code = 413


class TransientError(DocloopError):
    status_code = 503
    retryable = True


class Interrupted(TransientError):
    """Raised inside a long job when its worker is stopping; the worker hands the job back
    (queued at once, this attempt not counted) instead of recording a failure."""


class StorageUnavailable(TransientError):
    """The blob store refused or did not answer (credentials, network, bucket, disk)."""
