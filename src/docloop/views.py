"""Service answers as JSON fields, for the edges (API routes, CLI) that shape them.

Services return dataclasses; a field declared ``= optional()`` is one a service gives only in
some answers (a run's MLflow figures exist only when it was tracked), and the JSON leaves it
out while it is None, as the API's routers leave out unset response-model fields.
A field named for a Python keyword with a trailing underscore (``from_``) is the keyword in JSON.
"""

from __future__ import annotations

from dataclasses import field, fields, is_dataclass
from keyword import iskeyword
from typing import Any

_OPTIONAL = "absent from JSON when None"


def optional() -> Any:
    """The default of a dataclass field that only some answers give: None, left out of JSON."""
    return field(default=None, metadata={_OPTIONAL: True})


def given(view: Any) -> Any:
    """``view`` as JSON values: each dataclass in it (nested too) as a dict, without its
    ``optional()`` fields left None, with keyword-named fields under their keyword."""
    if is_dataclass(view) and not isinstance(view, type):
        return {
            _json_name(f.name): given(value)
            for f in fields(view)
            if (value := getattr(view, f.name)) is not None or not f.metadata.get(_OPTIONAL)
        }
    if isinstance(view, list | tuple):
        return [given(v) for v in view]
    if isinstance(view, dict):
        return {k: given(v) for k, v in view.items()}
    return view


def _json_name(field: str) -> str:
    bare = field.removesuffix("_")
    return bare if iskeyword(bare) else field
