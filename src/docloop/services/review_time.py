"""Review time: the editor measures the seconds from opening a file to approving it and sends
them with the approval; they are summed per file (a file reviewed twice cost both reviews) and
read by the KPI dashboard's time-saved and cost figures."""

from __future__ import annotations

import math

from docloop.errors import InvalidInput
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.predictions import _load_file
from docloop.services.users import require


def record(ctx: AppContext, who: Principal, model_id: str, file_id: str, seconds: float) -> None:
    """Add one review's ``seconds`` to the file, at most ``review_seconds_max`` (an editor left
    open is not an hour of work)."""
    require(who, "review")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput("review_seconds must be a number of seconds, 0 or more")
    counted = min(seconds, ctx.settings.review_seconds_max)
    with ctx.session() as s:
        row = _load_file(s, who, model_id, file_id)
        row.review_seconds = round((row.review_seconds or 0.0) + counted, 1)
