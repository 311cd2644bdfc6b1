"""Nanonets' official Python wrapper (PyPI ``nanonets`` 2.0.5) driven against docloop.

Run by the wrapper's own virtual environment (it pins an old ``requests``), not by pytest:

    python nanonets_flow.py HOST API_KEY PLAN.json

``HOST`` is docloop's v2 base URL (``http://127.0.0.1:PORT/api/v2/``); it replaces the wrapper's
``https://app.nanonets.com/api/v2/``, the one thing changed. ``PLAN.json`` names the training
images with their annotation files, the files to predict and the URLs to predict. The steps
print as they go and the last line is a JSON summary of what the wrapper returned.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from nanonets.model import Model
from nanonets.ocr import OCR

TRAIN_TIMEOUT_S = 1800


def _point_at(host: str) -> None:
    """Every wrapper object talks to ``host`` from its construction on (the OCR constructor
    creates the model at once, before a caller could set ``host``)."""
    original = Model.__init__

    def init(self: Model, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        self.host = host

    Model.__init__ = init  # type: ignore[method-assign]


def _summary(result: dict) -> dict:  # type: ignore[type-arg]
    return {
        name: [
            {k: p.get(k) for k in ("label", "ocr_text", "score", "xmin", "ymin", "xmax", "ymax")}
            for p in preds
        ]
        for name, preds in result.items()
    }


def main(host: str, api_key: str, plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    _point_at(host)
    ocr = OCR(api_key, ["number_plate"])
    started = time.time()
    trained = ocr.train(plan["training"], batch_size=20)
    print("train call:", trained.status_code, flush=True)
    while True:
        state = ocr._check_model_state()
        if state["state"] in (5, -1) or time.time() - started > TRAIN_TIMEOUT_S:
            break
        time.sleep(10)
    print("state check:", json.dumps(state), flush=True)
    if state["state"] != 5:
        print(f"the model was not hosted after {TRAIN_TIMEOUT_S} s", file=sys.stderr)
        return 1
    one = ocr.predict_for_file(plan["files"][0])
    many = ocr.predict_for_files(list(plan["files"]), batch_size=2)
    urls = ocr.predict_for_urls(plan["urls"])
    print(
        json.dumps(
            {
                "model_id": ocr.model_id,
                "state": state,
                "train_seconds": round(time.time() - started, 1),
                "predict_for_file": _summary(one),
                "predict_for_files": _summary(many),
                "predict_for_urls": _summary(urls),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
