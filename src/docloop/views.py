"""Service answers as JSON fields, for the edges (API routes, CLI) that shape them.

Services return dataclasses; a field declared with a ``None`` default is one a service gives
only in some answers (a run's MLflow figures exist only when it was tracked), and the JSON
leaves it out while it is None, as the API's routers leave out unset response-model fields.
A field named for a Python keyword with a trailing underscore (``from_``) is the keyword in JSON.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from keyword import iskeyword
from typing import Any


def given(view: Any) -> dict[str, Any]:
    """The dataclass ``view`` as a dict, without its optional (None-default) fields left None,
    and with keyword-named fields under their keyword."""
    optional = {f.name for f in fields(view) if f.default is None}
    return {
        k.removesuffix("_") if iskeyword(k.removesuffix("_")) else k: v
        for k, v in asdict(view).items()
        if not (k in optional and v is None)
    }
