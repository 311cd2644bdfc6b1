"""The v2 API's router: every call of Nanonets' OCR reference under ``/api/v2``.

Each route authenticates, parses the request the way Nanonets clients send it, calls a service
and shapes the JSON; the calls on models live in ``model_routes``, those on stored predictions
in ``inference_routes``.
"""

from __future__ import annotations

from fastapi import APIRouter

from docloop.api.compat import inference_routes, model_routes

router = APIRouter(prefix="/api/v2", tags=["nanonets-v2"])
router.include_router(model_routes.router)
router.include_router(inference_routes.router)
