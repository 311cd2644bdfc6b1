"""Upgrading docloop never changes what an existing model version predicts."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from docloop.domain import Box, OcrToken
from docloop.ml.bundle import FORMAT, FieldModelBundle
from docloop.ml.decoding import FORMAT_2, DecodeConfig
from docloop.ml.infer import FieldPredictor

OLD = Path(__file__).parent / "data" / "bundle_format_2"


def _token(item: dict[str, Any]) -> OcrToken:
    lattice = item["lattice"]
    return OcrToken(
        item["text"],
        Box(**item["box"]),
        item["score"],
        item["line"],
        tuple(tuple((c, p) for c, p in step) for step in lattice) if lattice else None,
    )


def test_a_bundle_of_the_previous_format_predicts_what_its_release_predicted() -> None:
    data = (OLD / "bundle.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert json.loads(zf.read("meta.json"))["format"] == "docloop-field-tagger/2"
    bundle = FieldModelBundle.from_bytes(data)
    assert bundle.decoding == FORMAT_2
    predictor = FieldPredictor(bundle)
    cases = json.loads((OLD / "cases.json").read_text())
    for case in cases:
        lines = [_token(t) for t in case["lines"]]
        got = predictor.predict(lines, case["width"], case["height"])
        want = case["fields"]
        assert [(f.label, f.text) for f in got] == [(f["label"], f["text"]) for f in want]
        for f, w in zip(got, want, strict=True):
            assert f.score == pytest.approx(w["score"], abs=1e-5)
            for side in ("xmin", "ymin", "xmax", "ymax"):
                assert getattr(f.box, side) == pytest.approx(w["box"][side], abs=1e-3)


def test_decoding_thresholds_travel_in_the_bundle_and_are_what_prediction_uses() -> None:
    """A bundle keeps the thresholds it was trained with: reading it with other values
    would change its fields, and the ones stored are the ones used."""
    bundle = FieldModelBundle.from_bytes((OLD / "bundle.zip").read_bytes())
    strict = DecodeConfig(doubt_min_prob=0.5, fallback_min_prob=0.9)
    bundle.decoding = strict
    again = FieldModelBundle.from_bytes(bundle.to_bytes())
    with zipfile.ZipFile(io.BytesIO(bundle.to_bytes())) as zf:
        assert json.loads(zf.read("meta.json"))["format"] == FORMAT
    assert again.decoding == strict
    case = json.loads((OLD / "cases.json").read_text())[1]  # one low-scored plate only
    lines = [_token(t) for t in case["lines"]]
    loose = FieldPredictor(FieldModelBundle.from_bytes((OLD / "bundle.zip").read_bytes()))
    assert len(loose.predict(lines, case["width"], case["height"])) > len(
        FieldPredictor(again).predict(lines, case["width"], case["height"])
    )


def test_thresholds_a_release_does_not_know_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown decoding settings"):
        DecodeConfig.from_dict({**DecodeConfig().to_dict(), "novel_knob": 1.0})


def test_a_bundle_from_before_active_learning_is_scored_on_its_fields_alone() -> None:
    """No member output and no layout clusters: disagreement and novelty are 0, the fields
    are the ones ``predict`` gives, and the score still ranks by confidence."""
    predictor = FieldPredictor(FieldModelBundle.from_bytes((OLD / "bundle.zip").read_bytes()))
    assert not predictor.has_members and not predictor.bundle.clusters.centroids
    case = json.loads((OLD / "cases.json").read_text())[0]
    lines = [_token(t) for t in case["lines"]]
    fields, found = predictor.assess(lines, case["width"], case["height"])
    assert fields == predictor.predict(lines, case["width"], case["height"])
    assert found.disagreement == 0 and found.novelty == 0
    assert 0 < found.score <= 1 and found.confidence > 0
