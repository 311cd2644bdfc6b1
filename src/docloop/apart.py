"""Work in a process of its own, so it can run beside a training in this one.

A training runs its network's epochs, PyTorch loops driven from Python, on one thread. Other work
of the same training that needs no network (the recognizer's tuning, the decoders fitted on the
annotations) can run on a core the training leaves free, but not on a thread of the same process:
the two take turns at the interpreter lock. Beside a thread running wide convolutions, a loop of
small optimizer steps (what the field tagger's training is) made 15 % fewer steps, and beside
another loop of small steps 62 % fewer; two processes ran as fast together as alone. A receipts
training's train step took 399 s alone, 416 s with the recognizer's tuning on a thread beside it
and 392 s with the tuning in a process beside it.

``run_apart`` starts the child with ``spawn`` (no copy of the parent's threads, locks or CUDA
state), gives it the function and its arguments, gets progress lines and the result back
through a pipe, and terminates it when the caller's ``check`` raises. In the child, ``report``
sends a progress line and ``check_parent`` stops the work when the parent died without a chance
to terminate it (SIGKILL, out of memory).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

POLL_S = 0.5  # how often the caller's ``check`` runs while the child works

_to_parent: Connection | None = None  # set in a child that ``run_apart`` started
_parent_pid: int | None = None


class ApartFailed(RuntimeError):
    """The child raised, or ended without a result (killed for memory, say)."""


def run_apart(
    target: Callable[..., T],
    args: Sequence[Any],
    name: str,
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> T:
    """``target(*args)`` in a child process named ``name``, with ``threads`` PyTorch threads
    where it uses PyTorch; the lines it ``report``s go to ``progress``. ``target`` must be a
    module's function, and ``args`` and its result picklable. ``check`` is called every
    ``POLL_S`` seconds; when it raises, the child is terminated and the exception goes on."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(sender, target, list(args), threads), name=name, daemon=True
    )
    child.start()
    sender.close()  # the child holds the only sending end: its exit ends the pipe
    try:
        while True:
            if receiver.poll(POLL_S):
                try:
                    kind, value = receiver.recv()
                except EOFError:
                    raise ApartFailed(
                        f"{name} ended without a result (exit code {child.exitcode})"
                    ) from None
                if kind == "progress" and progress is not None:
                    progress(value)
                elif kind == "done":
                    return value  # type: ignore[no-any-return]
                elif kind == "failed":
                    raise ApartFailed(value)
            elif check is not None:
                check()
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        receiver.close()


def report(line: str) -> None:
    """In a child of ``run_apart``: send a progress line to the parent (elsewhere: nothing)."""
    if _to_parent is not None:
        _to_parent.send(("progress", line))


def check_parent() -> None:
    """In a child of ``run_apart``: stop when the parent is gone. A parent killed outright
    cannot terminate its child, which then finds itself adopted by another process."""
    if _parent_pid is not None and os.getppid() != _parent_pid:
        raise SystemExit("the process that started this work is gone")


def _child(sender: Connection, target: Callable[..., Any], args: list[Any], threads: int) -> None:
    global _to_parent, _parent_pid
    _to_parent, _parent_pid = sender, os.getppid()
    torch = sys.modules.get("torch")  # imported with the target's module where it needs it
    if torch is not None:
        torch.set_num_threads(threads)
    outcome: tuple[str, Any]
    try:
        outcome = ("done", target(*args))
    except Exception as exc:  # sent to the parent, which raises it as ApartFailed
        outcome = ("failed", f"{type(exc).__name__}: {exc}")
    sender.send(outcome)
    sender.close()
