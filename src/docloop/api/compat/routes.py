"""The v2 API's router: every call of Nanonets' OCR reference under ``/api/v2``.

Each route authenticates, parses the request the way Nanonets clients send it, calls a service
and shapes the JSON; the calls on models live in ``model_routes``, those on stored predictions
in ``inference_routes``.
"""

from __future__ import annotations

from docloop.api.compat import inference_routes, model_routes
from docloop.api.compat.responses import V2Error
from docloop.api.responses import ErrorResponse, TypedRouter, error_responses

# Errors in Nanonets' error object; a parameter that does not parse is a native error body.
ERRORS = {
    **error_responses(V2Error, (400, 401, 403, 404, 409, 413)),
    **error_responses(ErrorResponse, (422,)),
}
router = TypedRouter(prefix="/api/v2", tags=["nanonets-v2"], responses=ERRORS)
router.include_router(model_routes.router)
router.include_router(inference_routes.router)
