"""OCR engines in child processes, so concurrent pages share no interpreter lock.

With the engines as threads of the server, 8 clients got 1.64-1.77x one client's throughput on 2
cores (``benchmarks/serving.py``): rapidocr's Python pre- and post-processing and the server's own
request handling take turns on one GIL. Each child holds one engine; a page costs a pickle of its
pixels each way (milliseconds against a fraction of a second of OCR).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from docloop.domain import OcrToken
from docloop.errors import TransientError
from docloop.ml.engines.base import OcrEngine

_engine: OcrEngine | None = None  # the one engine of a child process
# glibc backs the children's large buffers with transparent huge pages: each page's detection
# buffers are mapped afresh, and faulting them in 4 KiB at a time took 5.4 of 27.8 s over 120
# plate photos; with huge pages 2.9 of 24.4 s, at the same resident memory. Keeping freed
# buffers instead (mallopt thresholds) saved a little more but doubled it, 438 to 944 MB.
_TUNABLES = "glibc.malloc.hugetlb=1"


def _load_engine(build: Callable[[], OcrEngine]) -> None:
    """Child initializer: build the engine and read a blank page, so its models load now.

    Ctrl-C in a terminal interrupts the whole process group; the parent shuts its pool down,
    and a child that took the interrupt too printed a KeyboardInterrupt traceback from its
    queue wait (`docloop demo`, two of them on every stop). Children ignore it."""
    global _engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True)
    watch.start()
    _engine = build()
    _engine.read(np.zeros((32, 32, 3), np.uint8))


def _exit_with_parent(parent: int) -> None:
    """End this child once its parent is gone. A pool's worker waits for work on a queue that a
    killed parent never closes: `docloop demo` stopped by SIGTERM left both children running,
    holding their memory, until this."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _read(image: np.ndarray) -> list[OcrToken]:
    assert _engine is not None, "the pool initializer builds the engine"
    return _engine.read(image)


class ProcessPoolEngine:
    """Up to ``processes`` children, each running the engine ``build`` returns (picklable),
    taking pages from one queue.

    Children start on demand (a second only when a page arrives while the first is busy), so
    ``/healthz`` answers at once. Pages wait in one queue that every child reads, a few of them
    already sent: a child that finishes a page takes the next at once, and no page waits behind
    a busy child while another is free. With a child per caller instead, 8 clients got 1.61-1.74x
    one client's throughput (``benchmarks/serving.py``): each child sat idle while the server
    sent it its next page. A child that dies is replaced and the page read once more.
    """

    def __init__(self, build: Callable[[], OcrEngine], name: str, processes: int) -> None:
        self._name = name
        self._build = build
        self.processes = processes
        self._restart = threading.Lock()
        self._children = self._start()

    @property
    def name(self) -> str:
        return self._name

    def _start(self) -> ProcessPoolExecutor:
        # Read by the children's C library as they start; an operator's own setting wins.
        os.environ.setdefault("GLIBC_TUNABLES", _TUNABLES)
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),  # no copy of the server's threads
            initializer=_load_engine,
            initargs=(self._build,),
        )

    def read(self, image: np.ndarray) -> list[OcrToken]:
        for _ in range(2):
            children = self._children
            try:
                return children.submit(_read, image).result()
            except BrokenProcessPool:
                with self._restart:  # every page in flight saw it break; one restarts it
                    if self._children is children:
                        children.shutdown(wait=False, cancel_futures=True)
                        self._children = self._start()
        raise TransientError("the OCR processes stopped twice while reading this page")

    def close(self) -> None:
        """Stop the children once the pages sent to them are read (none is cancelled: its caller
        would get an error); a later page starts new ones."""
        with self._restart:
            children, self._children = self._children, self._start()
        children.shutdown(wait=True)
