"""Registering a v2 call the way Nanonets serves it: with and without the trailing slash.

Nanonets' reference writes most paths with a trailing slash and its clients call both spellings;
a redirect would make some HTTP clients drop a POST body, so both are real routes (the second
hidden from the OpenAPI document).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

Endpoint = Callable[..., Any]


def both_slashes(
    router: APIRouter, method: str, path: str, **route: Any
) -> Callable[[Endpoint], Endpoint]:
    """Decorator: serve ``endpoint`` at ``path`` with a trailing slash and without one;
    ``route`` goes to both (``openapi_extra`` for a body parsed by hand, ...)."""

    def register(endpoint: Endpoint) -> Endpoint:
        base = path.rstrip("/")
        router.add_api_route(base + "/", endpoint, methods=[method], **route)
        router.add_api_route(base, endpoint, methods=[method], include_in_schema=False, **route)
        return endpoint

    return register


def flag(value: object) -> bool:
    """A boolean query or form flag as clients send it: true/1/yes (any case) is true."""
    return str(value).strip().lower() in {"true", "1", "yes"}
