"""Ids given by people: the whole id, or any prefix that names exactly one."""

from __future__ import annotations

from collections.abc import Iterable

from docloop.errors import InvalidInput, NotFound


def match(given: str, ids: Iterable[str], kind: str) -> str:
    """The id equal to ``given``, else the only one starting with it.

    Raises NotFound when none does and InvalidInput when several do (naming a few)."""
    ids = list(ids)
    if given in ids:
        return given
    found = [i for i in ids if given and i.startswith(given)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no {kind} with id or id prefix {given!r}")
    raise InvalidInput(
        f"{given!r} starts {len(found)} {kind} ids ({', '.join(found[:3])}…): give more characters"
    )
