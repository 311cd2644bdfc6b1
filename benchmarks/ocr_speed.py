"""OCR cost per page: docloop's engine against rapidocr's defaults (and Tesseract), side by side.

Every image of the split is read by each engine in turn, so machine noise falls on all of them
alike. For each engine it prints the median wall seconds and CPU-seconds per page of one caller,
and the share of ground-truth field values found verbatim in its output (spaces and case
ignored): a faster engine that finds fewer values is not better. Then it measures throughput with
the whole machine busy: docloop's pool (one engine per core) over all pages, against rapidocr's
default engine, which spreads one page over every core.

    python benchmarks/ocr_speed.py --data ../shared/datasets/receipts [--limit N] [--tesseract]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from docloop.cpu_share import usable_cores
from docloop.ml.engines.processes import ProcessPoolEngine
from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine

Reader = Callable[[Path, np.ndarray], str]
_MODELS = Path(tempfile.gettempdir()) / "docloop-ocr"


def _norm(text: str) -> str:
    return "".join(text.split()).upper()


def _values(data: Path, image_id: str) -> list[str]:
    objects = json.loads((data / "annotations" / f"{image_id}.json").read_text())
    return [_norm(o.get("ocr_text") or "") for o in objects if _norm(o.get("ocr_text") or "")]


def rapidocr_default() -> Reader:
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "warning"})

    def read(_: Path, rgb: np.ndarray) -> str:
        out = engine(np.ascontiguousarray(rgb[:, :, ::-1]))
        return "\n".join(out.txts or [])

    return read


def docloop_engine(threads: int) -> Reader:
    """docloop's engine as the server and worker run it: in a child process."""
    build = partial(RapidOcrEngine, OcrProfile(engines=1, threads=threads), _MODELS)
    engine = ProcessPoolEngine(build, "docloop", 1)
    return lambda _, rgb: "\n".join(t.text for t in engine.read(rgb))


def tesseract(path: Path, _: np.ndarray) -> str:
    return subprocess.run(
        ["tesseract", str(path), "stdout"], capture_output=True, text=True, check=True
    ).stdout


def _cpu(engines: list[psutil.Process]) -> float:
    """CPU-seconds of this process, its finished children (Tesseract) and the OCR engines'
    processes (listed once: finding them scans every process, which costs CPU itself)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = sum(sum(p.cpu_times()[:2]) for p in engines)  # user + system
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + live


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=0, help="first N images of the split only")
    ap.add_argument("--tesseract", action="store_true", help="add Tesseract 5 (its CLI)")
    args = ap.parse_args()
    ids = (args.data / "splits" / f"{args.split}.txt").read_text().split()
    ids = ids[: args.limit] if args.limit else ids
    readers: dict[str, Reader] = {
        "rapidocr defaults": rapidocr_default(),
        "docloop, 1 thread": docloop_engine(1),
        "docloop, 2 threads": docloop_engine(2),
    }
    if args.tesseract:
        if shutil.which("tesseract") is None:
            sys.exit("--tesseract needs the tesseract binary (apt-get install tesseract-ocr)")
        readers["tesseract 5"] = tesseract
    wall: dict[str, list[float]] = {k: [] for k in readers}
    cpu: dict[str, list[float]] = {k: [] for k in readers}
    found = dict.fromkeys(readers, 0)
    total = 0
    pages = {}
    engines: list[psutil.Process] = []
    for n, image_id in enumerate(ids, 1):
        path = args.data / "images" / f"{image_id}.jpg"
        rgb = np.asarray(Image.open(path).convert("RGB"))
        pages[image_id] = (path, rgb)
        values = _values(args.data, image_id)
        total += len(values)
        if n == 1:
            for read in readers.values():
                read(path, rgb)  # load the models (and start the processes) outside the timing
            engines = [p for p in psutil.Process().children() if p.name().startswith("python")]
        for name, read in readers.items():
            c, t = _cpu(engines), time.perf_counter()
            text = _norm(read(path, rgb))
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(_cpu(engines) - c)
            found[name] += sum(v in text for v in values)
        print(f"\r{n}/{len(ids)} pages", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    base = "rapidocr defaults"
    print(f"{args.data.name}, {args.split}: {len(ids)} pages, {total} field values, "
          f"{usable_cores()} usable cores of {os.cpu_count()}")  # fmt: skip
    print("| engine | median wall s/page | median CPU-s/page | wall vs defaults | "
          "CPU vs defaults | values found verbatim |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in readers:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"| {name} | {w:.3f} | {c:.3f} | "
            f"{statistics.median(wall[base]) / w:.2f}x | {statistics.median(cpu[base]) / c:.2f}x | "
            f"{found[name] / max(total, 1):.3f} |"
        )
    _throughput(pages, readers[base])


def _throughput(pages: dict[str, tuple[Path, np.ndarray]], default: Reader) -> None:
    """Pages per minute with every core busy, the figure that decides how long an upload takes."""
    items = list(pages.values())
    t = time.perf_counter()
    for path, rgb in items:
        default(path, rgb)
    default_rate = len(items) / (time.perf_counter() - t) * 60
    cores = usable_cores()
    pool = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1), _MODELS), "pool", cores)
    with ThreadPoolExecutor(cores) as ex:
        list(ex.map(pool.read, [rgb for _, rgb in items[:cores]]))  # warm up
        t = time.perf_counter()
        list(ex.map(pool.read, [rgb for _, rgb in items]))
    pool_rate = len(items) / (time.perf_counter() - t) * 60
    pool.close()
    ratio = pool_rate / default_rate
    print(f"machine throughput: rapidocr defaults {default_rate:.1f} pages/min, "
          f"docloop pool {pool_rate:.1f} pages/min, ratio {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
