"""Work in a process of its own (``docloop/apart.py``) returns what it returns in the caller."""

from __future__ import annotations

import json

from docloop.apart import run_apart
from docloop.ml.train import (
    Decoders,
    TrainConfig,
    build_examples,
    evaluate_members,
    fit_model_decoders,
    train_members,
)
from tests.test_distributed import _pages


def _as_stored(decoders: Decoders | None) -> str:
    """The decoders as a model bundle stores them."""
    assert decoders is not None
    return json.dumps([part.to_dict() for part in decoders], sort_keys=True)


def test_decoders_fitted_apart_are_the_ones_fitted_in_the_caller() -> None:
    """A training fits its decoders in a child process beside the network's training; the
    bundle and the evaluation must get the same decoders as when it fits them itself (no core
    free)."""
    pages = _pages()
    held = [i % 5 == 0 for i in range(len(pages))]
    config = TrainConfig(epochs=2, members=2)
    here = fit_model_decoders(pages, ["total"], held, config)
    apart = run_apart(fit_model_decoders, (pages, ["total"], held, config), "test-decoders")
    assert _as_stored(apart.model) == _as_stored(here.model)
    assert _as_stored(apart.judged) == _as_stored(here.judged)
    assert [_as_stored(d) for d in apart.members] == [_as_stored(d) for d in here.members]
    assert _as_stored(here.judged) != _as_stored(here.model)  # fitted on fewer pages
    assert len(here.members) == 2 and _as_stored(here.members[0]) != _as_stored(here.members[1])


def test_the_members_decoders_fitted_beforehand_give_the_evaluation_it_makes_itself() -> None:
    """``evaluate_members`` scores each member with decoders fitted on its training pages;
    handed the ones ``fit_model_decoders`` fitted (beside the training), its figures and
    calibration must be those it gets fitting them itself."""
    pages = _pages()
    config = TrainConfig(epochs=2, members=2, dim=32, layers=1, recuts=0)
    examples = build_examples(pages, ["total"])
    networks = train_members(pages, examples, ["total"], config)
    fitted = fit_model_decoders(pages, ["total"], None, config)
    itself = evaluate_members(pages, examples, ["total"], networks, config)
    handed = evaluate_members(pages, examples, ["total"], networks, config, fitted.members)
    assert json.dumps(handed, sort_keys=True) == json.dumps(itself, sort_keys=True)
