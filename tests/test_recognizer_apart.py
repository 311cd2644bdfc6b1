"""The recognizer's tuning in a process of its own: its result, its progress, its failures, and
its end when the training it serves stops."""

from __future__ import annotations

import multiprocessing

import pytest

from docloop.errors import Interrupted
from docloop.ml.recognizer.apart import TuningFailed, tune_apart
from docloop.ml.recognizer.tune import Line, TuneConfig
from tests.test_recognizer import _latin, _line

LINES = [Line(_line(t), t, t) for t in ("MH12AB1234", "TN06")]


def test_the_tuning_process_returns_the_tuned_graph_and_sends_its_progress() -> None:
    progress: list[str] = []
    config = TuneConfig(epochs=2, copies=0, batch=2)
    tuned = tune_apart(_latin(), LINES, LINES, config, threads=1, progress=progress.append)
    assert len(tuned.figures["losses"]) == 2 and tuned.figures["cpu_seconds"] > 0
    assert tuned.onnx != _latin()
    assert [line.split(":")[0] for line in progress] == [
        "recognizer epoch 1", "recognizer epoch 2",
    ]  # fmt: skip
    assert multiprocessing.active_children() == []


def test_a_check_that_raises_ends_the_tuning_process() -> None:
    """A training handed back or failed while the tuning runs leaves no process behind."""
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        raise Interrupted("the worker is stopping")

    with pytest.raises(Interrupted):
        tune_apart(_latin(), LINES * 50, LINES, TuneConfig(epochs=50), threads=1, check=check)
    assert calls == [1]
    assert multiprocessing.active_children() == []


def test_a_failure_in_the_tuning_process_is_raised_with_its_reason() -> None:
    with pytest.raises(TuningFailed, match="DecodeError: Error parsing message"):
        tune_apart(b"not an onnx graph", LINES, LINES, TuneConfig(epochs=1), threads=1)
    assert multiprocessing.active_children() == []
