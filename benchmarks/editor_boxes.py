"""How the review editor copes with a page of 1,000 boxes, in Debian's Chromium (headless).

Stores one prediction of 1,000 fields on a bundled photo (no model needed: this measures the
editor), opens it in the browser and prints: the time from navigation until every box is
drawn, the median time the editor takes per pointer move while dragging a box (script plus
layout), and the time of a full redraw (a zoom step). Medians of several tries; machine noise
moves single figures.

    python benchmarks/editor_boxes.py [--boxes 1000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import uvicorn
from PIL import Image

from docloop.api.app import create_app
from docloop.config import Settings
from docloop.db.tables import InferenceFile, InferencePage, utcnow
from docloop.samples import PLATES
from docloop.services import auth, models, users
from docloop.services.context import build_context
from docloop.services.predictions import DONE, epoch_day

EMAIL, PASSWORD = "bench@example.com", "benchmark password"


def _store(ctx, model_id: str, photo: Path, n: int) -> str:  # type: ignore[no-untyped-def]
    width, height = Image.open(photo).size
    digest = ctx.blobs.put(photo.read_bytes())
    cols = 40
    w, h = width / cols, height / (n // cols + 1)
    preds = [
        {"id": str(uuid.uuid4()), "label": "number_plate", "type": "field",
         "xmin": round(i % cols * w), "ymin": round(i // cols * h),
         "xmax": round(i % cols * w + w * 0.8), "ymax": round(i // cols * h + h * 0.8),
         "score": 0.9, "ocr_text": f"T{i}", "page_no": 0, "status": "correctly_predicted"}
        for i in range(n)
    ]  # fmt: skip
    file_id = str(uuid.uuid4())
    with ctx.session() as s:
        s.add(InferenceFile(id=file_id, model_id=model_id, filename=photo.name, blob_hash=digest,
                            media_type="image/jpeg", status=DONE, moderated=False,
                            day=epoch_day(utcnow())))  # fmt: skip
        s.add(InferencePage(id=str(uuid.uuid4()), file_id=file_id, page=0, width=width,
                            height=height, predictions=preds))  # fmt: skip
    return file_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=1000)
    ap.add_argument("--tries", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="docloop-editor-bench-"))
    ctx = build_context(Settings(home=home, bootstrap_api_key="bench-key-editor",
                                 inprocess_worker=False))  # fmt: skip
    who = auth.authenticate(ctx, "bench-key-editor")
    model = models.create_model(ctx, who, categories=["number_plate"])
    file_id = _store(ctx, model.id, sorted((PLATES / "images").iterdir())[0], args.boxes)
    users.create_user(ctx, email=EMAIL, password=PASSWORD, role="reviewer")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ctx.settings, ctx=ctx), port=port,
                                           log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    loads, moves, redraws = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(f"{url}/login")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/models")
        for _ in range(args.tries):
            started = time.perf_counter()
            page.goto(f"{url}/models/{model.id}/review/{file_id}")
            page.wait_for_function(
                f"document.querySelectorAll('#overlay g.box').length === {args.boxes}"
            )
            loads.append(time.perf_counter() - started)
            moves.append(page.evaluate(_DRAG_JS))
            redraws.append(page.evaluate(_REDRAW_JS))
        browser.close()
    server.should_exit = True
    print(f"boxes on the page: {args.boxes}")
    print(f"open the editor until every box is drawn: median {statistics.median(loads):.2f} s")
    print(f"drag, per pointer move (script + layout): median {statistics.median(moves):.2f} ms")
    print(f"full redraw (zoom step): median {statistics.median(redraws):.1f} ms")


# Drags the first box with 60 synthetic pointer moves, forcing layout after each one.
_DRAG_JS = """() => {
  const svg = document.getElementById('overlay');
  const rect = svg.querySelector('g.box rect').getBoundingClientRect();
  const at = (x, y, type) => svg.dispatchEvent(new PointerEvent(type,
    {clientX: x, clientY: y, bubbles: true, pointerId: 1}));
  svg.querySelector('g.box rect').dispatchEvent(new PointerEvent('pointerdown',
    {clientX: rect.x + 2, clientY: rect.y + 2, bubbles: true, pointerId: 1}));
  const times = [];
  for (let k = 1; k <= 60; k++) {
    const t = performance.now();
    at(rect.x + 2 + k, rect.y + 2 + k / 2, 'pointermove');
    svg.getBoundingClientRect();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[30];
}"""

_REDRAW_JS = """() => {
  const t = performance.now();
  document.getElementById('zoom-in').click();
  document.getElementById('overlay').getBoundingClientRect();
  return performance.now() - t;
}"""


if __name__ == "__main__":
    main()
