"""The recognizer's tuning in a process of its own: its result, its progress, its failures, and
its end when the training it serves stops."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from docloop.apart import ApartFailed
from docloop.errors import Interrupted
from docloop.ml.recognizer.tune import Line, TuneConfig, tune_apart
from tests.test_recognizer import _latin, _line

LINES = [Line(_line(t), t, t) for t in ("MH12AB1234", "TN06")]


def test_the_tuning_process_returns_the_tuned_graph_and_sends_its_progress() -> None:
    before = _children()
    progress: list[str] = []
    config = TuneConfig(epochs=2, copies=0, batch=2)
    tuned = tune_apart(_latin(), LINES, LINES, config, threads=1, progress=progress.append)
    assert len(tuned.figures["losses"]) == 2 and tuned.figures["cpu_seconds"] > 0
    assert tuned.onnx != _latin()
    assert [line.split(":")[0] for line in progress] == [
        "recognizer epoch 1", "recognizer epoch 2",
    ]  # fmt: skip
    assert _children() <= before


def test_a_check_that_raises_ends_the_tuning_process() -> None:
    """A training handed back or failed while the tuning runs leaves no process behind."""
    before = _children()
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        raise Interrupted("the worker is stopping")

    with pytest.raises(Interrupted):
        tune_apart(_latin(), LINES * 50, LINES, TuneConfig(epochs=50), threads=1, check=check)
    assert calls == [1]
    assert _children() <= before


def test_a_failure_in_the_tuning_process_is_raised_with_its_reason() -> None:
    before = _children()
    with pytest.raises(ApartFailed, match="DecodeError: Error parsing message"):
        tune_apart(b"not an onnx graph", LINES, LINES, TuneConfig(epochs=1), threads=1)
    assert _children() <= before


def _children() -> set[int]:
    """This process's live children started by ``multiprocessing`` (a training another test
    left running may have one; only the one a call started must be gone after it)."""
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


_PARENT = """
from docloop.ml.recognizer.tune import Line, TuneConfig, tune_apart
from tests.test_recognizer import _latin, _line

lines = [Line(_line(t), t, t) for t in ("MH12AB1234", "TN06")]
tune_apart(_latin(), lines * 600, lines, TuneConfig(copies=0), threads=1)
"""


def test_the_tuning_process_stops_when_its_training_is_killed_outright() -> None:
    """A worker killed with SIGKILL (or for memory) cannot terminate its tuning process; the
    process notices it was orphaned and stops, instead of computing a minute of trunk
    features (1,200 lines) for nobody."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], cwd=Path(__file__).resolve().parents[1]
    )
    try:
        child = _tuning_child(parent.pid)
        time.sleep(5)  # into the trunk features
        parent.kill()
        parent.wait()
        child.wait(timeout=20)  # psutil.TimeoutExpired if it computes on
    finally:
        parent.kill()


def _tuning_child(pid: int) -> psutil.Process:
    """The tuning process ``pid`` starts (not multiprocessing's resource tracker)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = psutil.Process(pid).children()
        found = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no tuning process started")
