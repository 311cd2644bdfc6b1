"""Why a returned box misses its annotated field: a tally over held-out pages (``fold_quality.py
--misses``).

Each annotated box whose label's best returned box overlaps it at IoU < 0.5 is put in the first
cause that fits:

- ``no OCR words``: the labelling rule gave the field no OCR word, so no grouping could find it;
- ``nothing returned``: the model returned no field of the label;
- ``other text``: the returned box holds none of the field's words (another text was taken);
- ``part of the rows``: it holds some of the field's lines but not all (half a two-row plate);
- ``extra words``: it holds all the field's words and words of other lines besides;
- ``box fit``: it holds the field's words and no others, so the box refinement is off.

For each cause, ``refit IoU >= 0.5`` counts the misses where the refiner, given the field's own
words, would have hit: the share the grouping, not the refinement, lost. Scores of hits and
misses are printed too: AP50 needs the misses to score below the hits.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from docloop.domain import Box, OcrToken
from docloop.ml.boxes import BoxSample, line_boxes
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.data import LabelledPage
from docloop.ml.labels import words_by_field

CAUSES = (
    "no OCR words",
    "nothing returned",
    "other text",
    "part of the rows",
    "extra words",
    "box fit",
)


def _box(p: dict[str, Any]) -> Box:
    return Box(p["xmin"], p["ymin"], p["xmax"], p["ymax"])


def _inside(words: Sequence[OcrToken], box: Box) -> list[OcrToken]:
    return [w for w in words if box.contains_point(*w.box.center)]


def cause(page: LabelledPage, field: list[OcrToken], returned: Box | None) -> str:
    """The first of ``CAUSES`` that explains a miss of the field read from ``field``."""
    if not field:
        return CAUSES[0]
    if returned is None:
        return CAUSES[1]
    held = _inside(field, returned)
    if not held:
        return CAUSES[2]
    if {w.line for w in held} != {w.line for w in field}:
        return CAUSES[3]
    others = [w for w in _inside(page.words, returned) if w not in field]
    return CAUSES[4] if others else CAUSES[5]


class MissTally:
    """Misses by cause and fold, and the scores of hits and misses."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[int, list[str]]] = {c: {} for c in CAUSES}
        self.refit_hits: dict[str, int] = dict.fromkeys(CAUSES, 0)
        self.hit_scores: list[float] = []
        self.miss_scores: list[float] = []
        self.fields = 0

    def add(
        self,
        fold: int,
        pages: Sequence[LabelledPage],
        preds: dict[str, list[dict[str, Any]]],
        bundle: FieldModelBundle,
    ) -> None:
        """Tally the annotated boxes of ``pages`` against ``preds`` (what a v2 client got)."""
        for page in pages:
            lines = line_boxes(page.words)
            for ann, field in words_by_field(page.words, page.annotations, bundle.labels):
                if ann.box is None:
                    continue
                self.fields += 1
                mine = [p for p in preds.get(page.key, []) if p["label"] == ann.label]
                top = max(mine, key=lambda p: p["score"]) if mine else None
                returned = _box(top) if top else None
                if returned is not None and returned.iou(ann.box) >= 0.5:
                    self.hit_scores.append(top["score"])
                    continue
                if top is not None:
                    self.miss_scores.append(top["score"])
                why = cause(page, field, returned)
                self.rows[why].setdefault(fold, []).append(page.key)
                if field:
                    sample = BoxSample.of_words(ann.label, field, lines, page.width, page.height)
                    self.refit_hits[why] += bundle.refiner.refine(sample).iou(ann.box) >= 0.5

    def print(self) -> None:
        folds = sorted({f for by_fold in self.rows.values() for f in by_fold})
        missed = sum(len(v) for by_fold in self.rows.values() for v in by_fold.values())
        print(f"\nmisses of returned boxes: {missed} of {self.fields} annotated boxes\n")
        print("| cause | " + " | ".join(f"fold {f}" for f in folds) + " | all | refit IoU >= 0.5 |")
        print("|---|" + "---|" * len(folds) + "---|---|")
        for c in CAUSES:
            counts = [len(self.rows[c].get(f, [])) for f in folds]
            print(f"| {c} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} | "
                  f"{self.refit_hits[c]} |")  # fmt: skip
        for c in CAUSES:
            ids = [i for f in folds for i in self.rows[c].get(f, [])]
            if ids:
                print(f"{c}: {' '.join(ids)}")

        def spread(xs: list[float]) -> str:
            if not xs:
                return "none"
            q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
            return f"{len(xs)}, median {q[1]:.3f} (quartiles {q[0]:.3f}, {q[2]:.3f})"

        print(f"scores of hits: {spread(self.hit_scores)}")
        print(f"scores of misses: {spread(self.miss_scores)}")
