"""A lazily grown pool that lends its most recently returned item first.

The engines that run as threads of one process (``OCR_PROCESSES`` off) are expensive (about a
second to build and 500 MB each): build one only when every built one is busy, and hand out the
warmest, so one client's sequential pages keep meeting the same engine and its caches. (Engines
in child processes take pages from one queue instead, see ``processes.py``.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyPool(Generic[T]):
    def __init__(self, build: Callable[[], T], size: int) -> None:
        self._build = build
        self.size = size
        self._idle: queue.LifoQueue[T] = queue.LifoQueue()
        self.built = 0
        self._lock = threading.Lock()

    def _acquire(self) -> T:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self.built < self.size
            if grow:
                self.built += 1
        if not grow:
            return self._idle.get()
        try:
            return self._build()
        except BaseException:
            with self._lock:
                self.built -= 1
            raise

    @contextmanager
    def lend(self) -> Iterator[T]:
        """One item for this caller alone until the block ends."""
        item = self._acquire()
        try:
            yield item
        finally:
            self._idle.put(item)

    def drain(self) -> list[T]:
        """Take every idle item out, to release them; the pool may grow again afterwards."""
        out = []
        with self._lock:
            while True:
                try:
                    out.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            self.built -= len(out)
        return out
