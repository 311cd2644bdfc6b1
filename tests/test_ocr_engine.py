"""docloop's OCR engine: cheaper settings that must read the same, and a pool that shares cores."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from docloop.domain import JobKind
from docloop.ml.engines.pool import LazyPool
from docloop.ml.engines.processes import ProcessPoolEngine
from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine, detection_size
from docloop.samples import PLATES
from docloop.services import jobs
from docloop.services.context import AppContext, build_context
from docloop.services.ocr import lines_from_json, lines_to_json, read_blobs
from docloop.worker.loop import LIGHT_KINDS, Worker
from tests.conftest import make_settings


def _photos(n: int) -> list[np.ndarray]:
    paths = sorted((PLATES / "images").glob("*.jpg"))[:n]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def test_the_latin_recognizer_reads_latin_text_exactly_as_the_full_one(tmp_path: Path) -> None:
    full = RapidOcrEngine(OcrProfile(charset="all", engines=1), cache_dir=tmp_path)
    latin = RapidOcrEngine(OcrProfile(charset="latin", engines=1), cache_dir=tmp_path)
    compared = 0
    for image in _photos(6):
        # Scores are normalised over fewer characters, so the latin engine keeps a superset of
        # the lines that pass rapidocr's score threshold.
        narrow = {t.box: t.text for t in latin.read(image)}
        for token in full.read(image):
            if token.text.isascii():
                assert narrow.get(token.box) == token.text
                compared += 1
    assert compared >= 6
    assert full.name != latin.name  # cached OCR of one is never served as the other's
    assert len(list(tmp_path.glob("*-latin-*.onnx"))) == 1


def test_the_engine_hands_rapidocr_a_contiguous_page() -> None:
    """Regression: a reversed-channel view made OpenCV copy the page again for every line."""
    seen: list[bool] = []
    engine = RapidOcrEngine(OcrProfile(engines=1))
    real = engine._build()

    def recording(image: np.ndarray):  # type: ignore[no-untyped-def]
        seen.append(image.flags["C_CONTIGUOUS"])
        return real(image)

    recording._load_det_model = real._load_det_model  # type: ignore[attr-defined]
    recording._load_rec_model = real._load_rec_model  # type: ignore[attr-defined]
    engine.pool = LazyPool(lambda: recording, 1)
    assert engine.read(_photos(1)[0])
    assert seen == [True]


def test_the_engine_plans_no_memory_pattern_and_keeps_rapidocrs_other_options() -> None:
    engine = RapidOcrEngine(OcrProfile(engines=1, threads=1))._build()
    kept = engine._load_rec_model().session  # keeps the recognizer's outputs for the lattices
    for ort_session in (engine._load_det_model().session.session, kept.session.session):
        options = ort_session.get_session_options()
        assert not options.enable_mem_pattern
        assert not options.enable_cpu_mem_arena
        assert options.intra_op_num_threads == 1
    assert engine(np.zeros((32, 32, 3), np.uint8)).txts is None  # the reloaded sessions run


def test_scans_are_detected_smaller_and_photos_enlarged_as_before() -> None:
    assert detection_size(2000, 1414) == ("max", 960)  # a receipt scan
    assert detection_size(337, 600) == ("min", 736)  # a phone photo of a plate
    assert detection_size(720, 960) == ("min", 736)


def test_the_pool_reads_pages_at_the_same_time() -> None:
    """Two callers each hold an engine, rather than queueing behind one lock."""
    engine = RapidOcrEngine(OcrProfile(engines=2))
    images = _photos(2)
    engine.read(images[0])
    inside = []
    entered = threading.Barrier(2, timeout=60)

    def call(image: np.ndarray) -> None:
        with engine.pool.lend() as held:
            inside.append(held)
            entered.wait()  # both callers hold an engine at once, or this times out
        engine.read(image)

    threads = [threading.Thread(target=call, args=(im,)) for im in images]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in inside}) == 2
    assert engine.pool.built == 2


def test_the_pool_lends_the_warmest_item_and_grows_only_when_all_are_busy() -> None:
    made = iter(range(10))
    pool = LazyPool(lambda: next(made), 3)
    with pool.lend() as first:
        pass
    with pool.lend() as again:
        assert again == first  # sequential callers keep meeting the same one
    with pool.lend() as a, pool.lend() as b:
        assert {a, b} == {0, 1}
    with pool.lend() as last:
        assert last == 0 and pool.built == 2  # 0 went back after 1
    assert sorted(pool.drain()) == [0, 1] and pool.built == 0


def test_engines_in_child_processes_read_what_the_thread_engine_reads() -> None:
    images = _photos(3)
    in_thread = RapidOcrEngine(OcrProfile(engines=1))
    children = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), "x", 1)
    try:
        for image in images:
            assert children.read(image) == in_thread.read(image)
    finally:
        children.close()


def test_one_caller_uses_one_ocr_process_and_concurrent_pages_share_two() -> None:
    """Pages wait in one queue that both children read; the second child starts only once two
    pages are in flight, so a single client never pays for it."""
    images = _photos(4)
    children = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), "x", 2)

    def spawned() -> int:
        procs = psutil.Process().children()
        return sum("spawn_main" in " ".join(p.cmdline()) for p in procs)

    try:
        expected = [children.read(image) for image in images]
        assert spawned() == 1
        start = threading.Barrier(len(images), timeout=60)
        got: dict[int, list] = {}  # type: ignore[type-arg]

        def call(i: int) -> None:
            start.wait()
            got[i] = children.read(images[i])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(images))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [got[i] for i in range(len(images))] == expected
        assert spawned() == 2
    finally:
        children.close()


def test_closing_the_ocr_processes_lets_every_page_sent_finish() -> None:
    """Pages queued when the engine closes are read, not cancelled: a caller gets its text."""
    images = _photos(3)
    children = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), "x", 1)
    expected = [children.read(image) for image in images]
    got: dict[int, list] = {}  # type: ignore[type-arg]
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            got[i] = children.read(images[i])
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    time.sleep(0.05)  # the pages are in the queue
    children.close()
    for t in threads:
        t.join()
    children.close()
    assert not errors and [got[i] for i in range(len(images))] == expected


def test_an_ocr_process_leaves_ctrl_c_to_the_server() -> None:
    """Regression: Ctrl-C interrupts the terminal's whole process group, and each OCR child of
    `docloop demo` printed a KeyboardInterrupt traceback while the server shut down."""
    image = _photos(1)[0]
    children = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), "x", 1)
    try:
        expected = children.read(image)
        (child,) = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        assert children.read(image) == expected
        assert [
            p.pid for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())
        ] == [child.pid]
    finally:
        children.close()


def test_a_killed_ocr_process_is_replaced_and_the_page_read() -> None:
    """Nothing the user sent fails because an OCR child died between two pages."""
    image = _photos(1)[0]
    children = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), "x", 1)
    try:
        expected = children.read(image)
        (child,) = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
        child.kill()
        child.wait(30)
        assert children.read(image) == expected
    finally:
        children.close()


def test_read_blobs_keeps_the_order_of_the_files(ctx: AppContext) -> None:
    paths = sorted((PLATES / "images").glob("*.jpg"))[:4]
    blobs = [(ctx.blobs.put(p.read_bytes()), p.name) for p in paths]
    done: list[int] = []
    many = read_blobs(ctx, blobs, lambda n, total: done.append(n))
    assert done == [1, 2, 3, 4]
    for (digest, name), pages in zip(blobs, many, strict=True):
        image = np.asarray(Image.open(PLATES / "images" / name).convert("RGB"))
        assert [t.text for t in pages[0]] == [t.text for t in ctx.ocr.read(image)], digest


def test_light_workers_leave_trainings_to_the_first_worker(ctx: AppContext) -> None:
    with ctx.session() as s:
        train = jobs.enqueue(s, JobKind.TRAIN, {"model_id": "none"}, model_id=None, max_attempts=1)
        export = jobs.enqueue(
            s, JobKind.WEBHOOK, {"delivery": "none"}, model_id=None, max_attempts=1
        )
        train_id, light_id = train.id, export.id
    light = Worker(ctx, "light", LIGHT_KINDS)
    claimed = jobs.claim(ctx, light.owner, light.kinds)
    assert claimed is not None and claimed.id == light_id
    assert jobs.claim(ctx, light.owner, light.kinds) is None
    first = jobs.claim(ctx, "first")
    assert first is not None and first.id == train_id


def test_serving_does_not_load_torch() -> None:
    """torch costs seconds of start-up and hundreds of MB; the server only needs ONNX Runtime."""
    code = "import sys, docloop.api.app, docloop.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_default_context_reads_in_a_child_process_and_stops_it_on_close(
    tmp_path: Path,
) -> None:
    ctx = build_context(make_settings(tmp_path / "home", ocr_engines=1))
    assert isinstance(ctx.ocr, ProcessPoolEngine)
    assert ctx.ocr.read(_photos(1)[0])
    (child,) = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
    ctx.close()
    child.wait(30)  # raises psutil.TimeoutExpired if the child outlives its context


def test_ocr_children_end_when_their_server_is_killed() -> None:
    """Regression: a server stopped by a signal left its OCR children running, orphaned."""
    code = (
        "import os, sys, numpy as np\n"
        "from functools import partial\n"
        "from docloop.ml.engines.processes import ProcessPoolEngine\n"
        "from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine\n"
        "e = ProcessPoolEngine(partial(RapidOcrEngine, OcrProfile(engines=1)), 'x', 1)\n"
        "e.read(np.zeros((64, 64, 3), np.uint8))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        children = [
            p
            for p in psutil.Process(server.pid).children()
            if "spawn_main" in " ".join(p.cmdline())
        ]
        assert len(children) == 1
        server.kill()
        server.wait(30)
        children[0].wait(30)  # raises psutil.TimeoutExpired if the child outlives the server
    finally:
        server.kill()


def test_each_line_keeps_the_quadrilateral_it_was_cut_along_through_the_cache() -> None:
    """The engine's corners travel with every line and survive the OCR cache, so a model's own
    recognizer can cut the line as the engine did; lines cached before have none."""
    lines = RapidOcrEngine(OcrProfile(engines=1)).read(_photos(1)[0])
    assert lines and all(t.quad is not None for t in lines)
    for t in lines:
        assert t.quad is not None
        xs, ys = [x for x, _ in t.quad], [y for _, y in t.quad]
        assert (min(xs), min(ys), max(xs), max(ys)) == (
            t.box.xmin,
            t.box.ymin,
            t.box.xmax,
            t.box.ymax,
        )
    assert lines_from_json(json.loads(json.dumps(lines_to_json(lines)))) == lines
    older = [row[:7] for row in lines_to_json(lines)]
    assert all(t.quad is None for t in lines_from_json(older))
