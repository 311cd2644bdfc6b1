"""The Nanonets sample flow against a running docloop API: create, upload, train, predict.

Run inside the docloop-api container (it has httpx and the bundled plate photos), by
scripts/image_test.sh: ``python3 - URL KEY < image_smoke.py``. Training happens in whichever
worker takes the job (the docloop-trainer container in the image test).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import httpx

from docloop.samples import PLATES

UPLOADS = 16
TRAIN_TIMEOUT_S = 1800
WARM_PREDICTIONS = 4


def main(url: str, key: str) -> None:
    api = httpx.Client(base_url=f"{url}/api/v2/OCR", auth=(key, ""), timeout=300)
    model = api.post("/Model/", json={"categories": ["number_plate"], "model_type": "ocr"})
    model.raise_for_status()
    model_id = model.json()["model_id"]
    print(f"model {model_id} created", flush=True)
    for path in sorted((PLATES / "images").iterdir())[:UPLOADS]:
        objects = json.loads((PLATES / "annotations" / f"{path.stem}.json").read_text())
        data = json.dumps([{"filename": path.name, "object": objects}])
        r = api.post(
            f"/Model/{model_id}/UploadFile/",
            files={"file": (path.name, path.read_bytes(), "image/jpeg")},
            data={"data": data, "modelId": model_id},
        )
        r.raise_for_status()
    print(f"{UPLOADS} annotated photos uploaded", flush=True)
    api.post(f"/Model/{model_id}/Train/").raise_for_status()
    started = time.monotonic()
    while True:
        state = api.get(f"/Model/{model_id}").json()
        if state["state"] in (5, -1) or time.monotonic() - started > TRAIN_TIMEOUT_S:
            break
        time.sleep(5)
    print(
        f"training: state {state['state']} ({state['status']}) after "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    if state["state"] != 5:
        sys.exit("training did not finish")
    sample = sorted((PLATES / "unseen").iterdir())[0]
    t0 = time.monotonic()
    r = api.post(
        f"/Model/{model_id}/LabelFile/",
        files={"file": (sample.name, sample.read_bytes(), "image/jpeg")},
    )
    r.raise_for_status()
    predicted = r.json()["result"][0]["prediction"]
    found = [(p["label"], p["ocr_text"], round(p["score"], 3)) for p in predicted]
    print(f"LabelFile {sample.name}: {r.status_code} in {time.monotonic() - t0:.2f} s: {found}")
    if not found:
        sys.exit("the prediction found nothing")
    warm = []
    # Photos it was not trained on, each new to the OCR cache.
    for path in sorted((PLATES / "images").iterdir())[UPLOADS : UPLOADS + WARM_PREDICTIONS]:
        t0 = time.monotonic()
        api.post(
            f"/Model/{model_id}/LabelFile/",
            files={"file": (path.name, path.read_bytes(), "image/jpeg")},
        ).raise_for_status()
        warm.append(time.monotonic() - t0)
    print(f"{len(warm)} more LabelFile calls: median {statistics.median(warm):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
