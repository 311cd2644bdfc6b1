"""Training time: from the Train call to a hosted model, with OCR already done at upload.

Uploads a dataset split (images plus Nanonets-shaped annotations, as ``eval_api.py`` does) into a
temporary home, lets the worker OCR every file (the upload-time jobs), then times
``request_training`` until the model is hosted, running the jobs in this process the way the
in-process workers of ``docloop serve`` do. Prints the upload OCR time, the training time, each
training step's wall and CPU seconds (as the run records them), and the peak memory of the
worker process (its OCR children included) while training.

CPU seconds are the figure to compare on a shared machine: wall seconds grow with whatever else
runs on the cores, CPU seconds hardly do. The OCR of a file the benchmarks' cache
(``quality_table.py``'s ``docloop_lines``, same engine, same decoding) already holds is stored
before the upload, so the upload's OCR jobs find it instead of reading the page again.

    python benchmarks/train_speed.py --data ../shared/datasets/plates [--limit N] [--no-recognizer]
    python benchmarks/train_speed.py --data ../shared/datasets/receipts
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from bench_common import PeakMemory
from sqlalchemy import select

from docloop.config import Settings
from docloop.db.tables import ModelVersion, OcrResult, TrainingRun
from docloop.domain import ModelState
from docloop.services import auth, datasets, models, training
from docloop.services.context import AppContext, build_context
from docloop.services.tracking import cpu_seconds, hardware
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


def _seed_ocr(ctx: AppContext, items: list[tuple[Path, list[dict]]], cache: Path) -> int:
    """Store the cached OCR of every file the cache holds; returns how many files it held."""
    folder = cache / ctx.ocr.name
    hashes = [hashlib.sha256(image.read_bytes()).hexdigest() for image, _ in items]
    held = {h for h in hashes if (folder / f"{h}.json").exists()}
    with ctx.session() as s:
        for h in held:
            pages = [json.loads((folder / f"{h}.json").read_text())]
            s.add(OcrResult(blob_hash=h, engine=ctx.ocr.name, pages=pages))
    return sum(h in held for h in hashes)


def _print_steps(ctx: AppContext, model_id: str, train_s: float, train_cpu: float) -> None:
    """The training run's steps as it recorded them, and what the steps leave unaccounted; with
    recognizer tuning, the recognizer step's figures. A step's CPU seconds are the process's,
    so the train step's include those of a tuning beside it (whose own CPU seconds are its
    thread's, ``tune_cpu_seconds``)."""
    with ctx.session() as s:
        run = s.scalars(select(TrainingRun).where(TrainingRun.model_id == model_id)).one()
        steps = list(run.steps)
        version = s.scalars(select(ModelVersion).where(ModelVersion.model_id == model_id)).one()
        figures = (version.metrics or {}).get("recognizer") or {}
    print("| step | cached | wall s | CPU s |")
    print("|---|---|---|---|")
    for st in steps:
        cpu = st.get("cpu_seconds")
        cpu_text = f"{cpu:.1f}" if cpu is not None else "-"
        print(f"| {st['name']} | {st['cached']} | {st['seconds']:.1f} | {cpu_text} |")
    # A side step runs beside the train step, or inside the step that asks for its result.
    after = [st for st in steps if st["name"] not in training.SIDE_STEPS]
    wall = train_s - sum(st["seconds"] for st in after)
    cpu = train_cpu - sum(st.get("cpu_seconds", 0.0) for st in after)
    print(f"| (outside the steps: queue, checks, tracking) | | {wall:.1f} | {cpu:.1f} |")
    print(f"| **Train call -> hosted** | | {train_s:.1f} | {train_cpu:.1f} |")
    if figures:
        keys = (
            "tuned_beside", "train_lines", "lines_left_out", "copies", "losses",
            "tune_cpu_seconds", "judge_cpu_seconds", "held_exact_engine", "held_exact_tuned",
            "held_fields", "held_served_engine", "held_served_tuned", "held_served_fields",
            "held_served_wins", "held_served_losses", "sign_test_p", "used",
        )  # fmt: skip
        print("recognizer: " + ", ".join(f"{k} {figures.get(k)}" for k in keys))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="dataset folder (images/, splits/)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N files")
    ap.add_argument(
        "--recognizer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="tune the recognizer (the default, as a server does)",
    )
    ap.add_argument(
        "--ocr-cache",
        type=Path,
        default=Path.home() / ".cache" / "docloop-bench",
        help="the benchmarks' OCR cache (files it holds are not read again)",
    )
    args = ap.parse_args()
    items = _annotated(args.data, args.split, args.limit)
    labels = sorted({o["name"] for _, objects in items for o in objects})
    home = Path(tempfile.mkdtemp(prefix="docloop-train-bench-"))
    settings = Settings(
        home=home, bootstrap_api_key=KEY, inprocess_worker=False, train_recognizer=args.recognizer
    )
    ctx = build_context(settings)
    who = auth.authenticate(ctx, KEY)
    model = models.create_model(ctx, who, categories=labels)
    workers = WorkerPool(ctx)  # as `docloop serve` runs them
    seeded = _seed_ocr(ctx, items, args.ocr_cache)

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

    started, cpu = time.perf_counter(), cpu_seconds()
    memory = PeakMemory(os.getpid())
    training.request_training(ctx, who, model.id)
    workers.run(burst=True)
    train_s, train_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    peak = memory.stop()
    info = models.get_model(ctx, who, model.id)
    if info.state != ModelState.HOSTED:
        raise SystemExit(f"training did not finish: {info.status}")
    machine = hardware()
    print(f"data: {args.data.name} {args.split} ({len(items)} files, labels {labels})")
    print(
        f"cores: {machine['cpu_count']} on the machine, {machine['usable_cores']} usable, "
        f"{machine['torch_threads']} PyTorch threads; recognizer tuning {args.recognizer}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"upload OCR (all files, worker jobs; {seeded} from the cache): {ocr_s:.1f} s")
    _print_steps(ctx, model.id, train_s, train_cpu)
    ctx.close()
    mib = peak / 2**20
    print(f"peak memory of the worker process and its OCR children while training: {mib:.0f} MiB")


if __name__ == "__main__":
    main()
