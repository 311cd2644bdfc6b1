"""The recognizer's tuning in a process of its own, so it can run beside the network's training.

Both are PyTorch loops driven from Python. Run as two threads of one process they take turns at
the interpreter lock: beside a thread running wide convolutions, a loop of small optimizer steps
(what the field tagger's training is) made 15 % fewer steps, and beside another loop of small
steps (what the recognizer's epochs on cached trunk features are) 62 % fewer; two processes ran
as fast together as alone. A receipts training's train step took 399 s alone, 416 s with the
tuning on a thread beside it and 392 s with the tuning in a process beside it.

The child is started with ``spawn`` (no copy of the parent's threads, locks or CUDA state),
gets the lines, the graph and the settings through a pipe, sends its progress lines back the
same way, and is terminated when the caller's ``check`` raises; it stops by itself when its
parent dies without a chance to terminate it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from docloop.ml.recognizer.tune import Line, TuneConfig, Tuned, tune

POLL_S = 0.5  # how often the caller's ``check`` runs while the child works


class TuningFailed(RuntimeError):
    """The tuning process raised, or ended without a result (killed for memory, say)."""


def tune_apart(
    model: bytes,
    train: Sequence[Line],
    held: Sequence[Line],
    config: TuneConfig,
    threads: int,
    progress: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Tuned:
    """``tune`` run in a child process with ``threads`` PyTorch threads; its progress lines go
    to ``progress``. ``check`` is called every ``POLL_S`` seconds; when it raises, the child
    is terminated and the exception goes on."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    args = (sender, model, list(train), list(held), config, threads)
    child = context.Process(target=_tune, args=args, name="docloop-recognizer-tune", daemon=True)
    child.start()
    sender.close()  # the child holds the only sending end: its exit ends the pipe
    try:
        while True:
            if receiver.poll(POLL_S):
                try:
                    kind, value = receiver.recv()
                except EOFError:
                    raise TuningFailed(
                        f"the tuning process ended without a result (exit code {child.exitcode})"
                    ) from None
                if kind == "progress" and progress is not None:
                    progress(value)
                elif kind == "done":
                    return value  # type: ignore[no-any-return]
                elif kind == "failed":
                    raise TuningFailed(value)
            elif check is not None:
                check()
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        receiver.close()


def _tune(
    sender: Connection,
    model: bytes,
    train: list[Line],
    held: list[Line],
    config: TuneConfig,
    threads: int,
) -> None:
    import torch

    torch.set_num_threads(threads)
    parent = os.getppid()

    def report(line: str) -> None:
        sender.send(("progress", line))

    def orphaned() -> None:
        """A parent killed outright (SIGKILL, out of memory) cannot terminate its child: the
        child then finds itself adopted by another process and stops."""
        if os.getppid() != parent:
            raise SystemExit("the training that started this tuning is gone")

    outcome: tuple[str, Any]
    try:
        outcome = ("done", tune(model, train, held, config, progress=report, check=orphaned))
    except Exception as exc:  # sent to the parent, which raises it as TuningFailed
        outcome = ("failed", f"{type(exc).__name__}: {exc}")
    sender.send(outcome)
    sender.close()
