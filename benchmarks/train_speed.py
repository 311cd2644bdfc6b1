"""Training time: from the Train call to a hosted model, with OCR already done at upload.

Uploads a dataset split (images plus Nanonets-shaped annotations, as ``eval_api.py`` does) into a
temporary home, lets the worker OCR every file (the upload-time jobs), then times
``request_training`` until the model is hosted, running the jobs in this process the way the
in-process workers of ``docloop serve`` do. Prints the upload OCR time, the training time and
the peak memory of the worker process (its OCR children included) while training.

    python benchmarks/train_speed.py --data ../shared/datasets/plates [--limit N]
    python benchmarks/train_speed.py --data ../shared/datasets/receipts
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench_common import PeakMemory

from docloop.config import Settings
from docloop.domain import ModelState
from docloop.services import auth, datasets, models, training
from docloop.services.context import build_context
from docloop.worker.loop import WorkerPool

KEY = "bench-key-train-speed"


def _annotated(data: Path, split: str, limit: int) -> list[tuple[Path, list[dict]]]:
    ids = (data / "splits" / f"{split}.txt").read_text().split()
    if limit:
        ids = ids[:limit]
    out = []
    for ident in ids:
        image = next((data / "images").glob(f"{ident}.*"))
        objects = json.loads((data / "annotations" / f"{ident}.json").read_text())
        out.append((image, [o for o in objects if o.get("bndbox")]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="dataset folder (images/, splits/)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N files")
    args = ap.parse_args()
    items = _annotated(args.data, args.split, args.limit)
    labels = sorted({o["name"] for _, objects in items for o in objects})
    home = Path(tempfile.mkdtemp(prefix="docloop-train-bench-"))
    ctx = build_context(Settings(home=home, bootstrap_api_key=KEY, inprocess_worker=False))
    who = auth.authenticate(ctx, KEY)
    model = models.create_model(ctx, who, categories=labels)
    workers = WorkerPool(ctx)  # as `docloop serve` runs them

    started = time.perf_counter()
    for image, objects in items:
        datasets.add_files(
            ctx,
            who,
            model.id,
            [datasets.IncomingFile(image.name, image.read_bytes())],
            [{"filename": image.name, "object": objects}],
        )
    workers.run(burst=True)
    ocr_s = time.perf_counter() - started

    started = time.perf_counter()
    memory = PeakMemory(os.getpid())
    training.request_training(ctx, who, model.id)
    workers.run(burst=True)
    train_s = time.perf_counter() - started
    peak = memory.stop()
    info = models.get_model(ctx, who, model.id)
    ctx.close()
    if info.state != ModelState.HOSTED:
        raise SystemExit(f"training did not finish: {info.status}")
    print(f"data: {args.data.name} {args.split} ({len(items)} files, labels {labels})")
    print(f"upload OCR (all files, worker jobs): {ocr_s:.1f} s")
    print(f"Train call -> hosted (OCR already done): {train_s:.1f} s")
    mib = peak / 2**20
    print(f"peak memory of the worker process and its OCR children while training: {mib:.0f} MiB")


if __name__ == "__main__":
    main()
