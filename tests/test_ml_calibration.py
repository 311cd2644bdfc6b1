"""Learned field confidences (``ml/calibration.py``) and the box evidence they read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.boxes import BoxRefiner, BoxSample, _fit_one
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.calibration import MIN_OUTCOMES, Calibration
from docloop.ml.data import LabelledPage
from docloop.ml.decode import candidates, group_fields
from docloop.ml.layout import FieldLayout
from docloop.ml.textshape import TextShapeModel
from docloop.ml.train import TrainConfig, fit

OLD = Path(__file__).parent / "data" / "bundle_format_2" / "bundle.zip"


def _plates(n: int) -> list[BoxSample]:
    """Training plates: text about five times as wide as high, a twentieth of the page high."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        h = rng.uniform(18, 22)
        x, y = rng.uniform(0, 200), rng.uniform(0, 300)
        words = Box(x, y, x + h * rng.uniform(4.5, 5.5), y + h)
        target = Box(words.xmin - 5, words.ymin - 5, words.xmax + 5, words.ymax + 5)
        out.append(BoxSample("plate", words, words, 1, 400, 400, target))
    return out


def _outcomes(n: int) -> list[tuple[str, tuple[float, ...], bool]]:
    """Held-out candidates whose box was right when their shape was usual, whatever the
    network's belief."""
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        atypical = float(rng.uniform(0, 6))
        evidence = (float(rng.normal(2, 1)), atypical)
        out.append(("plate", evidence, atypical < 2))
    return out


def test_a_refiner_tells_a_box_unlike_its_labels_training_boxes() -> None:
    refiner = BoxRefiner.fit(_plates(30))
    usual = BoxSample("plate", Box(100, 100, 200, 120), Box(100, 100, 200, 120), 1, 400, 400)
    sign = BoxSample("plate", Box(0, 0, 400, 60), Box(0, 0, 400, 60), 2, 400, 400)
    assert refiner.atypical(usual) < 1.0 < 3.0 < refiner.atypical(sign)
    assert BoxRefiner(**refiner.to_dict()).atypical(sign) == refiner.atypical(sign)
    assert BoxRefiner().atypical(sign) == 0.0  # a model saved before spreads were kept


def test_calibration_learns_which_evidence_tells_a_right_box() -> None:
    calibration = Calibration.fit(_outcomes(200))
    assert calibration.knows("plate")
    sure_but_odd = calibration.score("plate", (6.0, 5.0))
    unsure_but_usual = calibration.score("plate", (0.0, 0.5))
    assert sure_but_odd < 0.2 < 0.8 < unsure_but_usual
    again = Calibration.from_dict(calibration.to_dict())
    assert again.score("plate", (0.0, 0.5)) == unsure_but_usual


def test_a_label_with_too_few_held_out_misses_keeps_its_raw_scores() -> None:
    hits = [("plate", (1.0, 0.0), True)] * 40
    misses = [("plate", (0.0, 3.0), False)] * (MIN_OUTCOMES - 1)
    assert not Calibration.fit(hits + misses).knows("plate")
    assert Calibration.fit(hits + misses * 2).knows("plate")


def test_a_fit_that_would_rank_doubt_above_belief_is_not_used() -> None:
    """Held-out dates annotated with a box over the date and the time beside it: the time the
    network doubted lands in the annotated box as often as the date it was sure of, while
    sure readings elsewhere miss. A fit on that says the less the network believes a reading,
    the likelier it is right; the label keeps its raw scores instead."""
    sure_hits = [("date", (6.0, 0.2), True)] * 20
    doubted_hits = [("date", (-7.0, 0.2), True)] * 20
    sure_misses = [("date", (5.0, 0.3), False)] * 10
    assert not Calibration.fit(sure_hits + doubted_hits + sure_misses).knows("date")


def test_a_fit_no_better_than_the_hit_rate_is_not_used() -> None:
    """Few held-out dates, most of them hits whatever their evidence: the fit's weights came
    out barely positive (0.008 on the raw score), its score nearly one constant, and their
    noise put the time beside a date above the date itself. Where the evidence does tell the
    hits, as the shape of the box does here, the fit is used."""
    rng = np.random.default_rng(0)
    noise = [
        ("date", (float(rng.normal(2, 5)), float(rng.normal(1, 1))), bool(k % 5)) for k in range(40)
    ]
    assert sum(not hit for _, _, hit in noise) == 8
    assert not Calibration.fit(noise).knows("date")
    told = [("date", (float(rng.normal(2, 5)), 3.0 * (not hit)), hit) for _, _, hit in noise]
    assert Calibration.fit(told).knows("date")


def test_a_calibrated_model_returns_the_candidate_whose_box_is_likelier_right() -> None:
    """The network is surer of a wide sign's words than of the plate's; the calibration has
    learned that boxes unlike the label's training boxes are wrong, so the plate comes first
    and the sign is scored below it."""
    words = [
        OcrToken("TARA", Box(0, 0, 200, 60), 1, 0),
        OcrToken("AUTOMOBILES", Box(210, 0, 400, 60), 1, 0),
        OcrToken("MH12AB1234", Box(100, 300, 200, 320), 1, 1),
    ]
    probs = np.array([[0.1, 0.9], [0.1, 0.9], [0.4, 0.6]])
    kwargs = {
        "width": 400, "height": 400, "refiner": BoxRefiner.fit(_plates(30)),
        "shapes": TextShapeModel(), "layout": FieldLayout({"plate": [50, 50]}),
    }  # fmt: skip
    raw = group_fields(words, probs, ["plate"], **kwargs)
    assert raw[0].text == "TARA AUTOMOBILES"
    found = candidates(words, probs, ["plate"], **kwargs)
    assert [c.evidence[1] > 3 for c in found] == [True, False]
    calibrated = group_fields(
        words, probs, ["plate"], calibration=Calibration.fit(_outcomes(200)), **kwargs
    )
    assert [f.text for f in calibrated] == ["MH12AB1234", "TARA AUTOMOBILES"]
    assert calibrated[0].score > 0.8 > 0.2 > calibrated[1].score


def test_calibration_travels_in_the_bundle_and_old_bundles_have_none() -> None:
    bundle = FieldModelBundle.from_bytes(OLD.read_bytes())
    assert bundle.calibration == Calibration()
    bundle.calibration = Calibration.fit(_outcomes(200))
    again = FieldModelBundle.from_bytes(bundle.to_bytes())
    assert again.calibration == bundle.calibration
    assert again.calibration.score("plate", (0, 1)) == pytest.approx(
        bundle.calibration.score("plate", (0, 1))
    )


def test_a_few_fields_framed_unlike_the_rest_do_not_pull_every_refined_box() -> None:
    """Where a few training fields' words are not what the annotator framed (the frame holds a
    second text, say), least squares shifts every box toward them; cross-validation picks the
    robust fit, which keeps the clean fields' margin."""
    clean = _plates(40)
    odd = [
        BoxSample(s.label, s.words, s.line_box, 1, 400, 400,
                  Box(s.words.xmin - 5, s.words.ymin - 5, s.words.xmax + 300, s.words.ymax + 120))
        for s in _plates(8)
    ]  # fmt: skip
    refiner = BoxRefiner.fit(clean + odd)
    plain = BoxRefiner({"plate": _fit_one([(s, s.target) for s in clean + odd], "words")},
                       {"plate": "words"})  # fmt: skip
    unseen = _plates(41)[-1]
    assert unseen.target is not None
    assert refiner.refine(unseen).iou(unseen.target) > 0.85
    assert plain.refine(unseen).iou(unseen.target) < 0.6


def test_training_fits_the_calibration_on_held_out_pages_and_the_bundle_serves_it() -> None:
    """A tiny training: whatever the held-out candidates allow, the calibration evaluation
    fitted is the one the bundle carries, and its figures are of the scores it serves."""
    rng = np.random.default_rng(0)
    pages = []
    for i in range(30):
        y = float(rng.uniform(10, 80))
        words = [
            OcrToken("TOTAL", Box(10, y, 60, y + 10), 1.0, 0),
            OcrToken(f"{i}.50", Box(70, y, 110, y + 10), 1.0, 0),
            OcrToken("THANK", Box(10, 150, 60, 160), 1.0, 1),
        ]
        box = Box(70, y, 110, y + 10)
        pages.append(LabelledPage(words, 200, 200, [Annotation("total", box, f"{i}.50")]))
    bundle = fit(pages, ["total"], TrainConfig(epochs=2, members=2, recuts=0, dim=32, layers=1))
    assert bundle is not None
    assert "calibration" in bundle.metrics
    assert bundle.calibration == Calibration.from_dict(bundle.metrics["calibration"])
    assert sum(bundle.metrics["val_confidence"]["counts"]["total"]) > 0


def test_a_box_unlike_the_labels_boxes_is_never_a_sign_of_a_right_one() -> None:
    """Regression: one fold's held-out totals, whose boxes differed little, gave the box's
    distance from the training boxes a positive weight, and the model returned a doubted "PM"
    whose box was unlike any total's above the total the network was sure of."""
    rng = np.random.default_rng(2)
    outcomes = []
    for _ in range(200):
        belief = float(rng.normal(0, 2))
        hit = bool(rng.random() < 1 / (1 + np.exp(-belief)))
        atypical = float(rng.uniform(0.2, 1.2)) + (0.3 if hit else 0.0)
        outcomes.append(("total", (belief, atypical), hit))
    calibration = Calibration.fit(outcomes)
    assert calibration.knows("total")
    assert calibration.weights["total"][2] == 0.0
    doubted_odd_box = calibration.score("total", (-7.5, 3.6))
    sure_usual_box = calibration.score("total", (1.2, 0.7))
    assert doubted_odd_box < 0.01 < sure_usual_box
