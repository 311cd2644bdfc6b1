"""Work that can run beside other work on a core the other leaves free, or after it when none is.

A training tunes the text recognizer (``ml/recognizer``) on the same pages its network trains
on, and the tuning needs nothing from the network: on a machine with a core that the network's
training leaves idle (PyTorch limited to one thread by default), the tuning runs there at the
same time instead of adding its minutes after it. Its result is the same either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Generic, TypeVar

from docloop.errors import Interrupted

T = TypeVar("T")

POLL_S = 0.5  # how often ``wait_ended`` calls its ``check``


class SideTask(Generic[T]):
    """``work(check)`` started at once on a thread of its own (``beside``), or run in the caller's
    thread when ``result`` is first asked for. ``work`` calls ``check`` now and then; after
    ``cancel`` it raises ``Interrupted``, so work left unfinished when its owner fails or stops
    ends at its next check. ``check`` also calls ``stop``, the owner's own stop point (it
    raises when the owner's worker is asked to stop), so work that the owner waits for, or runs
    in its own thread, does not keep a stopping worker past its grace period. As a context
    manager it is cancelled on leaving, and the thread waited for: nothing of it goes on
    writing after its owner is done."""

    def __init__(
        self,
        work: Callable[[Callable[[], None]], T],
        beside: bool,
        name: str,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self._work = work
        self._stop = stop
        self._cancelled = threading.Event()
        self._future: Future[T] | None = None
        self._thread: threading.Thread | None = None
        if beside:
            self._future = Future()
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    @property
    def beside(self) -> bool:
        """Whether the work runs on a thread of its own."""
        return self._thread is not None

    def _run(self) -> None:
        assert self._future is not None
        try:
            self._future.set_result(self._work(self._check))
        except BaseException as exc:  # handed to whoever asks for the result
            self._future.set_exception(exc)

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise Interrupted("cancelled: the work it was for has ended")
        if self._stop is not None:
            self._stop()

    def result(self) -> T:
        """The work's result (waiting for it), or its exception raised here."""
        if self._future is None:
            self._future = Future()
            try:
                self._future.set_result(self._work(self._check))
            except BaseException as exc:
                self._future.set_exception(exc)
        return self._future.result()

    def wait_ended(self, check: Callable[[], None]) -> None:
        """Wait until work running beside has ended, either way, calling ``check`` every
        ``POLL_S`` seconds meanwhile; return at once for work that does not run beside. Work
        that queues behind this one on the core they share waits here."""
        while self._thread is not None and self._thread.is_alive():
            check()
            self._thread.join(POLL_S)

    def cancel(self) -> None:
        """Ask the work to stop at its next check and wait for its thread to end."""
        self._cancelled.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> SideTask[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.cancel()
