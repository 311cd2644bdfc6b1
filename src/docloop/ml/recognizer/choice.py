"""Whether a model's tuned recognizer serves, judged by what serving would return with it.

Training tunes the shipped recognizer on the field lines of most of the model's pages; every
``HOLD_EVERY``-th group of near-duplicate pages is held out (the same pages in every training of
the model). The model is then put together three times from the other pages: as the engine read
them; with the tuned recognizer and its decoders (re-reading, text shapes and known values, box
refinement, layout) fitted on the pages' field lines as it reads them, since they will decode
what it reads; and with the tuned recognizer and the decoders fitted on the engine's readings.
The last is there because the tuned recognizer reads its own training lines almost perfectly
(CTC loss near 0.002), so decoders fitted on those readings learn few of the corrections its
readings of new lines need, while the engine's readings show them. All three predict the
held-out pages as serving does, from the page image; the tuned recognizer serves only when more
held-out fields come back as annotated, text and box, with the decoders of the better of its
two (its own readings on a tie).

Judged on raw line readings instead (the tuned recognizer's against the engine's own), a tuned
recognizer that read 30 of 34 held-out plates where the engine read 26 served, and text F1 on
the fold fell from 0.907 to 0.827: serving corrects the engine's readings with decoders fitted
on them, and re-reads lines cut along their upright box where the engine cut them along their
tilt, so neither raw figure is what a client receives.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from docloop.domain import Annotation, FieldPrediction, OcrToken
from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.data import Example, LabelledPage
from docloop.ml.infer import FieldPredictor
from docloop.ml.labels import comparable
from docloop.ml.recognizer.lines import field_lines, lines_under, page_lines
from docloop.ml.recognizer.reading import LineCrop, LineReader, line_crops, with_lines
from docloop.ml.recognizer.tune import Line, TuneConfig, tune
from docloop.ml.train import export_bundle, fit_decoders, group_keys

HOLD_EVERY = 5  # one page group in this many is held out to judge the tuned recognizer
MIN_IOU = 0.5  # a returned field's overlap with its annotated box to count (eval_api's AP50)


@dataclass
class Choice:
    """The tuned recognizer, whether it serves, the figures that decided, and by page key the
    words of each page with its field lines as the tuned recognizer reads them: what the
    model's decoders are fitted on when it serves (empty when they are fitted on the engine's
    readings)."""

    onnx: bytes
    serves: bool
    figures: dict[str, Any]
    read: dict[str, list[OcrToken]]


def choose_recognizer(
    model: bytes,
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    networks: Sequence[FieldTagger],
    metrics: dict[str, Any],
    image_of: Callable[[LabelledPage], np.ndarray | None],
    config: TuneConfig = TuneConfig(),  # noqa: B008 (frozen, so safe to share)
    progress: Callable[[str], None] | None = None,
) -> Choice:
    """``model`` (the engine's recognizer) tuned on the pages' field lines, and whether it
    serves. ``image_of`` gives a page's RGB image; it is asked once per page to cut the lines,
    and once more per held-out page to predict it."""
    started = time.process_time()
    held_out = [key % HOLD_EVERY == 0 for key in group_keys(pages)]
    train: list[Line] = []
    held: list[Line] = []
    cut: dict[str, dict[int, LineCrop]] = {}
    for page, out in zip(pages, held_out, strict=True):
        image = None if page.transcribed or not page.key else image_of(page)
        if image is None:
            continue
        (held if out else train).extend(field_lines(image, page.words, page.annotations, page.key))
        lines = page_lines(page.words)
        annotated = {ln.line for ann in page.annotations for ln in lines_under(lines, ann)}
        cut[page.key] = line_crops(image, page.words, annotated)
    tuned = tune(model, train, held, config, progress=progress)
    reader = LineReader(tuned.onnx, config.max_width)
    read = {
        key: _reread(page.words, reader, cut[key]) for page in pages if (key := page.key) in cut
    }

    kept = [p for p, out in zip(pages, held_out, strict=True) if not out]
    judged = [p for p, out in zip(pages, held_out, strict=True) if out and p.key in cut]
    figures = {**tuned.figures, "held_pages": len(judged)}
    used = False
    if judged and any(not p.transcribed for p in kept):
        plain = export_bundle(kept, examples, labels, networks, metrics)
        refiner, shapes, layout, rereader = fit_decoders(
            [replace(p, words=read.get(p.key, p.words)) for p in kept], labels
        )
        with_tuned = replace(
            plain, refiner=refiner, shapes=shapes, layout=layout, reader=rereader,
            recognizer=tuned.onnx,
        )  # fmt: skip
        engine_fitted = replace(plain, recognizer=tuned.onnx)
        fields, (right_plain, right_tuned, right_engine_fitted) = served_right(
            [FieldPredictor(b) for b in (plain, with_tuned, engine_fitted)], judged, image_of
        )
        figures.update(
            held_served_fields=fields, held_served_engine=right_plain,
            held_served_tuned=right_tuned, held_served_tuned_engine_decoders=right_engine_fitted,
        )  # fmt: skip
        used, engine_decoders = decide(right_plain, right_tuned, right_engine_fitted)
        if engine_decoders:
            read = {}
            figures["decoders_fitted_on"] = "engine"
    figures.update(used=used, cpu_seconds=round(time.process_time() - started, 1))
    return Choice(tuned.onnx, used, figures, read)


def decide(engine: int, tuned: int, tuned_engine_decoders: int) -> tuple[bool, bool]:
    """Whether the tuned recognizer serves, from the held-out fields each assembly returned
    right (the engine's readings; the tuned recognizer with decoders fitted on its readings;
    with decoders fitted on the engine's), and whether its decoders are the engine-fitted
    ones: only a strict gain over the engine serves it, and the engine-fitted decoders only
    when they are strictly better than its own."""
    return max(tuned, tuned_engine_decoders) > engine, tuned_engine_decoders > tuned


def _reread(words: list[OcrToken], reader: LineReader, cut: dict[int, LineCrop]) -> list[OcrToken]:
    """A page's words with the cut lines as ``reader`` reads them (no tagger probabilities to
    carry: a one-column stand-in goes along and is dropped)."""
    return with_lines(words, np.zeros((len(words), 1), np.float32), reader.read_lines(cut))[0]


def served_right(
    predictors: Sequence[FieldPredictor],
    pages: Sequence[LabelledPage],
    image_of: Callable[[LabelledPage], np.ndarray | None],
) -> tuple[int, list[int]]:
    """How many annotated fields the pages hold (a label with a readable text on a page), and
    how many of them each predictor returns as annotated: its best-scored field of the label
    reads as one of the label's texts on the page (case and whitespace aside) and, where that
    text's box is annotated, lies on it (IoU at least ``MIN_IOU``), as a client scoring the
    answer compares them. (Re-reading changes which line wins a field as well as its text.)"""
    fields, right = 0, [0] * len(predictors)
    for page in pages:
        image = image_of(page)
        truth: dict[str, list[Annotation]] = defaultdict(list)
        for ann in page.annotations:
            if ann.text and ann.text.strip() != "?":
                truth[ann.label].append(ann)
        fields += len(truth)
        for k, predictor in enumerate(predictors):
            found = predictor.predict_words(page.words, page.width, page.height, image)
            best = {f.label: f for f in sorted(found, key=lambda f: f.score)}
            right[k] += sum(
                label in best and any(_matches(best[label], ann) for ann in anns)
                for label, anns in truth.items()
            )
    return fields, right


def _matches(found: FieldPrediction, annotation: Annotation) -> bool:
    text = comparable(found.text) == comparable(annotation.text or "")
    return text and (annotation.box is None or found.box.iou(annotation.box) >= MIN_IOU)
