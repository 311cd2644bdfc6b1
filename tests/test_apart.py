"""Work in a process of its own (``docloop/apart.py``) returns what it returns in the caller."""

from __future__ import annotations

import json

from docloop.apart import run_apart
from docloop.ml.train import Decoders, fit_model_decoders
from tests.test_distributed import _pages


def _as_stored(decoders: Decoders | None) -> str:
    """The decoders as a model bundle stores them."""
    assert decoders is not None
    return json.dumps([part.to_dict() for part in decoders], sort_keys=True)


def test_decoders_fitted_apart_are_the_ones_fitted_in_the_caller() -> None:
    """A training fits its decoders in a child process beside the network's training; the
    bundle must hold the same decoders as when it fits them itself (no core free)."""
    pages = _pages()
    held = [i % 5 == 0 for i in range(len(pages))]
    here = fit_model_decoders(pages, ["total"], held)
    apart = run_apart(fit_model_decoders, (pages, ["total"], held), "test-decoders")
    assert _as_stored(apart[0]) == _as_stored(here[0])
    assert _as_stored(apart[1]) == _as_stored(here[1])
    assert _as_stored(here[1]) != _as_stored(here[0])  # fitted on fewer pages
