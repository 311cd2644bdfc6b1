"""Whether a model's tuned recognizer serves, judged by what serving would return with it.

Training tunes the shipped recognizer on the field lines of most of the model's pages; every
``HOLD_EVERY``-th group of near-duplicate pages is held out (the same pages in every training of
the model). The tuning needs no trained network, so a training runs it beside the network's
(``tune_on_pages``). The model is then put together twice from the other pages (``judge``): as
the engine read them, and with the tuned recognizer re-reading its candidates' lines. Both
predict the held-out pages as serving does, from the page image, and the tuned recognizer
serves only when it returns more held-out fields as annotated, text and box, than the engine's
readings do, by more than chance (``decide``).

The decoders (re-reading, text shapes and known values, box refinement, layout) are fitted on
the engine's readings either way. The tuned recognizer reads its own training lines almost
perfectly (CTC loss near 0.002), so decoders fitted on those readings learn few of the
corrections its readings of new lines need, while the engine's readings show them: on every
fold where both were measured (two of plates, three of receipts), decoders fitted on its own
readings returned no more text right, and on one plates fold 0.846 against 0.897 text F1.

Judged on raw line readings instead (the tuned recognizer's against the engine's own), a tuned
recognizer that read 30 of 34 held-out plates where the engine read 26 served, and text F1 on
the fold fell from 0.907 to 0.827: serving corrects the engine's readings with decoders fitted
on them, and re-reads lines cut along their upright box where the engine cut them along their
tilt, so neither raw figure is what a client receives.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from docloop.domain import Annotation, FieldPrediction
from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.data import Example, LabelledPage
from docloop.ml.infer import FieldPredictor
from docloop.ml.labels import comparable
from docloop.ml.recognizer.lines import field_lines
from docloop.ml.recognizer.tune import Line, TuneConfig, Tuned, tune_apart
from docloop.ml.train import Decoders, export_bundle, group_keys

HOLD_EVERY = 5  # one page group in this many is held out to judge the tuned recognizer
MIN_IOU = 0.5  # a returned field's overlap with its annotated box to count (eval_api's AP50)
ALPHA = 0.05  # the sign test's level: the usual bar for "more than chance"


@dataclass
class Choice:
    """The tuned recognizer, whether it serves, and the figures that decided."""

    onnx: bytes
    serves: bool
    figures: dict[str, Any]


def held_out(pages: Sequence[LabelledPage]) -> list[bool]:
    """Whether each page is held out to judge the tuned recognizer (the same pages in every
    training of the model)."""
    return [key % HOLD_EVERY == 0 for key in group_keys(pages)]


def tune_on_pages(
    model: bytes,
    pages: Sequence[LabelledPage],
    image_of: Callable[[LabelledPage], np.ndarray | None],
    config: TuneConfig = TuneConfig(),  # noqa: B008 (frozen, so safe to share)
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Tuned:
    """``model`` (the engine's recognizer) tuned on the field lines of the pages not held out,
    with the exact reads of the held-out pages' lines as figures. ``image_of`` gives a page's
    RGB image. The lines are cut here and tuned on in a process of their own (``tune_apart``)
    with ``threads`` PyTorch threads. ``check`` is called between pages and while the tuning
    runs, and raises to stop it. The CPU seconds counted are this thread's and the tuning
    process's, so a network training beside it does not count."""
    started = time.thread_time()
    train: list[Line] = []
    held: list[Line] = []
    for page, out in zip(pages, held_out(pages), strict=True):
        if check is not None:
            check()
        image = None if page.transcribed or not page.key else image_of(page)
        if image is not None:
            lines = field_lines(image, page.words, page.annotations, page.key)
            (held if out else train).extend(lines)
    cutting = time.thread_time() - started
    tuned = tune_apart(model, train, held, config, threads, progress, check)
    tuned.figures["tune_cpu_seconds"] = round(cutting + tuned.figures["cpu_seconds"], 1)
    return tuned


def judge(
    tuned: Tuned,
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    networks: Sequence[FieldTagger],
    metrics: dict[str, Any],
    image_of: Callable[[LabelledPage], np.ndarray | None],
    decoders: Decoders | None = None,
) -> Choice:
    """Whether the tuned recognizer serves: the model put together from the pages not held
    out (with ``decoders`` where they were fitted on those pages already), with and without
    it, predicts the held-out pages from their images (``image_of``, asked once per held-out
    page)."""
    started = time.process_time()
    out = held_out(pages)
    kept = [p for p, o in zip(pages, out, strict=True) if not o]
    judged = [p for p, o in zip(pages, out, strict=True) if o and p.key and not p.transcribed]
    figures = {**tuned.figures, "held_pages": len(judged)}
    used = False
    if judged and any(not p.transcribed for p in kept):
        plain = export_bundle(kept, examples, labels, networks, metrics, decoders=decoders)
        with_tuned = replace(plain, recognizer=tuned.onnx)
        right_plain, right_tuned = served_right(
            [FieldPredictor(b) for b in (plain, with_tuned)], judged, image_of
        )
        figures.update(
            held_served_fields=len(right_plain), held_served_engine=sum(right_plain),
            held_served_tuned=sum(right_tuned),
        )  # fmt: skip
        used, test = decide(right_plain, right_tuned)
        figures.update(test)
    judging = time.process_time() - started
    cpu = figures["tune_cpu_seconds"] + judging
    figures.update(used=used, judge_cpu_seconds=round(judging, 1), cpu_seconds=round(cpu, 1))
    return Choice(tuned.onnx, used, figures)


def decide(engine: Sequence[bool], tuned: Sequence[bool]) -> tuple[bool, dict[str, Any]]:
    """Whether the tuned recognizer serves, from which held-out fields the model returned
    right with the engine's readings and with the tuned recognizer, and the figures that
    decided.

    It serves only when the fields it alone returns right outnumber those only the engine's
    readings return right by more than chance would (a one-sided sign test on those fields at
    ``ALPHA``): a gain of a few fields in a few hundred turned out to be noise (one receipts
    fold chosen on 201 against 197 read worse on its own held-out files), and every served
    recognizer costs its re-reading at each prediction."""
    wins = sum(t and not e for t, e in zip(tuned, engine, strict=True))
    losses = sum(e and not t for t, e in zip(tuned, engine, strict=True))
    p = sign_test(wins, losses)
    figures = {"held_served_wins": wins, "held_served_losses": losses, "sign_test_p": round(p, 4)}
    return wins > losses and p <= ALPHA, figures


def sign_test(wins: int, losses: int) -> float:
    """The chance of at least ``wins`` wins in ``wins + losses`` fair coin tosses."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def served_right(
    predictors: Sequence[FieldPredictor],
    pages: Sequence[LabelledPage],
    image_of: Callable[[LabelledPage], np.ndarray | None],
) -> list[list[bool]]:
    """For each predictor, whether it returns each annotated field of the pages (a label with
    a readable text on a page, in the same order for every predictor) as annotated: its
    best-scored field of the label reads as one of the label's texts on the page (case and
    whitespace aside) and, where that text's box is annotated, lies on it (IoU at least
    ``MIN_IOU``), as a client scoring the answer compares them. (Re-reading changes which line
    wins a field as well as its text.) The predictors share one network, so the words'
    probabilities are computed once a page."""
    right: list[list[bool]] = [[] for _ in predictors]
    for page in pages:
        image = image_of(page)
        truth: dict[str, list[Annotation]] = defaultdict(list)
        for ann in page.annotations:
            if ann.text and ann.text.strip() != "?":
                truth[ann.label].append(ann)
        probs = predictors[0].probabilities(page.words, page.width, page.height)
        for k, predictor in enumerate(predictors):
            found = predictor.predict_words(page.words, page.width, page.height, image, probs)
            best = {f.label: f for f in sorted(found, key=lambda f: f.score)}
            right[k] += [
                label in best and any(_matches(best[label], ann) for ann in anns)
                for label, anns in truth.items()
            ]
    return right


def _matches(found: FieldPrediction, annotation: Annotation) -> bool:
    text = comparable(found.text) == comparable(annotation.text or "")
    return text and (annotation.box is None or found.box.iou(annotation.box) >= MIN_IOU)
