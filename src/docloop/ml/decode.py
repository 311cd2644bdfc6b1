"""Per-word class probabilities -> fields: grouped words, a refined box, corrected text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from docloop.domain import Box, FieldPrediction, OcrToken, enclosing
from docloop.ml.boxes import BoxRefiner, BoxSample, line_boxes
from docloop.ml.labels import comparable
from docloop.ml.layout import FieldLayout
from docloop.ml.lexicon import foreign
from docloop.ml.reread import Rereader
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import join_text

FALLBACK_MIN_PROB = 0.15
GROW_MIN_PROB = 0.2
# A word another class won is still a candidate of a label this likely: a field of its own,
# scored by that probability (``group_fields``). Such candidates rank below every surer field,
# so a lower bound costs average precision almost nothing and recovers fields the network
# barely saw; where that belief lands varies between two trainings (an unreadable second
# plate got p 0.06, 0.03, then 0.015 in three networks), hence a low bound. Measured on
# held-out folds: lowering it from 0.05 to 0.01 moved no fold down (the experiment history).
DOUBT_MIN_PROB = 0.01
ENCLOSED = 0.8  # share of a word's area inside a cluster's extent that makes it enclosed
EDGE_LINE_MIN_PROB = 0.5
MIN_LINES_KEPT = 2
# Where pages held a second instance of a label less often than this (``FieldLayout.rank_prior``),
# tagged words this many times the label's widest gap apart still make one field.
RARE_SECOND = 0.5
RARE_SECOND_SLACK = 2.0


def group_fields(
    tokens: Sequence[OcrToken],
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    width: int,
    height: int,
    refiner: BoxRefiner,
    shapes: TextShapeModel,
    layout: FieldLayout,
    reader: Rereader | None = None,
) -> list[FieldPrediction]:
    """Words tagged with a label, grouped into nearby clusters; one prediction per cluster.

    A cluster's score is its tagged words' mean probability times how plausible its text is for
    the label (``TextShapeModel.plausibility``: a shape its values never took, a value never
    seen where values recur): the network can be surer of a misread fragment ("2920/1,") than
    of the date on another line.

    The k-th strongest cluster of a label is scored down by how often training pages held k
    instances of it: a second plate on a photo where training photos show one is most likely a
    dealer's sign, but it is kept, with a low score, for the photo that does show two cars.

    A label no word wins is still read from its likeliest word when that word is not too
    unlikely, or whatever its probability when nearly every training page held the label (a
    receipt's total): a low-scored guess is something for a reviewer to confirm, where nothing
    is a field to type, and on the dev receipts such guesses were right two times in three.

    Words another class won but the network gave this label some belief (``DOUBT_MIN_PROB``)
    make candidates too, after the label's own fields, each scored by its words' probability
    like any other: where the winner's text is implausible for the label, a plausible doubted
    reading can outrank it (a date and a total more on held-out dev receipts), and where the
    network barely saw a field, a low-scored candidate still points a reviewer at it (the
    unreadable second plate in a photo). Routing does not wait on them, and
    unconfirmed they are neither training data nor exported (``routing.alternatives``).
    """
    out: list[FieldPrediction] = []
    if len(tokens) == 0:
        return out
    winners = probs.argmax(axis=1)
    page = _Page(
        tokens, probs, winners, line_boxes(tokens), width, height, refiner, shapes, layout, reader
    )
    for k, label in enumerate(labels, start=1):
        members = [i for i in range(len(tokens)) if winners[i] == k]
        if not members:
            best = int(probs[:, k].argmax())
            if probs[best, k] < FALLBACK_MIN_PROB and not layout.always_present(label):
                continue
            members = [best]
        members = _grow(members, tokens, probs, winners, k, label, layout)
        made = page.fields(k, label, members)
        taken = {i for _, idx in made for i in idx}
        doubted = [
            i
            for i in range(len(tokens))
            if i not in taken and winners[i] != k and probs[i, k] >= DOUBT_MIN_PROB
        ]
        if doubted:
            made += page.fields(k, label, doubted)
        found = sorted((p for p, _ in made), key=lambda p: -p.score)
        out.extend(
            replace(p, score=p.score * layout.rank_prior(label, rank))
            for rank, p in enumerate(found)
        )
    return out


@dataclass(frozen=True)
class _Page:
    """A page's words, the network's belief in each, and the decoders that read fields off it."""

    tokens: Sequence[OcrToken]
    probs: np.ndarray
    winners: np.ndarray
    lines: Mapping[int, Box]
    width: int
    height: int
    refiner: BoxRefiner
    shapes: TextShapeModel
    layout: FieldLayout
    reader: Rereader | None

    def fields(
        self, k: int, label: str, chosen: list[int]
    ) -> list[tuple[FieldPrediction, list[int]]]:
        """The fields the words ``chosen`` make for ``label`` (class ``k``), each with the words
        it was read from."""
        tokens, lines, layout, shapes = self.tokens, self.lines, self.layout, self.shapes
        prob = self.probs[:, k]
        line_means = _line_means(tokens, prob)
        # A split field is likelier than a second instance of a label pages rarely hold twice.
        slack = RARE_SECOND_SLACK if layout.rank_prior(label, 1) < RARE_SECOND else 1.0
        made = []
        for cluster in _clusters([tokens[i] for i in chosen], label, layout, slack):
            tagged = _trim_edge_lines([chosen[j] for j in cluster], tokens, lines, line_means)
            tagged = _trim_foreign_lines(tagged, tokens, lines, layout.vocabulary.get(label))
            tagged = _trim_to_length(tagged, tokens, lines, line_means, layout.longest.get(label))
            enclosed = _enclosed(tagged, tokens, self.winners, label in layout.whole_line)
            idx = _dedupe(tagged + enclosed, tokens, prob)
            words = shapes.known.widen(label, [tokens[i] for i in idx], tokens)
            sample = BoxSample.of_words(label, words, lines, self.width, self.height)
            read = (self.reader and self.reader.reread(label, words)) or join_text(words)
            text = shapes.correct_in_line(label, read, _line_text(tokens, words))
            # Enclosed words join the text, not the score: they were the network's doubt.
            tagged_p = float(np.mean(prob[[i for i in idx if i not in enclosed] or idx]))
            prediction = FieldPrediction(
                label=label,
                box=self.refiner.refine(sample),
                text=text,
                score=tagged_p * shapes.plausibility(label, text),
            )
            made.append((prediction, idx))
        return made


def _grow(
    members: list[int],
    tokens: Sequence[OcrToken],
    probs: np.ndarray,
    winners: np.ndarray,
    k: int,
    label: str,
    layout: FieldLayout,
) -> list[int]:
    """Add weaker words next to tagged ones (hysteresis): a plate's short "37" between "TN" and
    "CF" is less sure on its own than beside its neighbours."""
    chosen = set(members)
    candidates = [
        i
        for i in range(len(tokens))
        if i not in chosen and winners[i] == 0 and probs[i, k] >= GROW_MIN_PROB
    ]
    grew = True
    while grew and candidates:
        grew = False
        for i in list(candidates):
            if any(layout.joins(label, tokens[i], tokens[j]) for j in chosen):
                chosen.add(i)
                candidates.remove(i)
                grew = True
    return sorted(chosen)


def _line_means(tokens: Sequence[OcrToken], prob: np.ndarray) -> dict[int, float]:
    """Each OCR line's mean probability of the label over all its words, tagged or not."""
    sums: dict[int, list[float]] = {}
    for t, p in zip(tokens, prob, strict=True):
        sums.setdefault(t.line, []).append(float(p))
    return {n: float(np.mean(v)) for n, v in sums.items()}


def _trim_edge_lines(
    idx: list[int],
    tokens: Sequence[OcrToken],
    lines: Mapping[int, Box],
    line_means: dict[int, float],
) -> list[int]:
    """Drop the top or bottom line of a field spanning three or more when the network thinks
    that line, all its words taken together, less likely than not part of it: a branch line
    ("Damansara Utama Outlet") above an address. Lines in between stay, and so do the last
    two: one row of a two-row plate can be that doubtful (dev plate 43, "TN37CF" over "4902",
    in one training), and cutting it costs the whole field."""
    order = _lines_top_down(idx, tokens, lines)
    while len(order) > MIN_LINES_KEPT:
        top, bottom = line_means[order[0]], line_means[order[-1]]
        if min(top, bottom) >= EDGE_LINE_MIN_PROB:
            break
        order.pop(0 if top <= bottom else -1)
    return _on_lines(idx, tokens, order)


def _trim_foreign_lines(
    idx: list[int],
    tokens: Sequence[OcrToken],
    lines: Mapping[int, Box],
    vocabulary: Sequence[str] | None,
) -> list[int]:
    """Drop the top or bottom line of a field while it holds words and none of them is a word
    of the label's training texts: a store's name over an address ("FASARAYA BORONG SUPER
    SEVEN"), a shop's web address under it. Only for labels whose lines the
    vocabulary tells apart (``lexicon.line_vocabularies``)."""
    if not vocabulary:
        return idx
    known = set(vocabulary)
    order = _lines_top_down(idx, tokens, lines)

    def text(line: int) -> str:
        return " ".join(tokens[i].text for i in idx if tokens[i].line == line)

    while len(order) > 1:
        if foreign(text(order[0]), known):
            order.pop(0)
        elif foreign(text(order[-1]), known):
            order.pop()
        else:
            break
    return _on_lines(idx, tokens, order)


def _trim_to_length(
    idx: list[int],
    tokens: Sequence[OcrToken],
    lines: Mapping[int, Box],
    line_means: dict[int, float],
    longest: int | None,
) -> list[int]:
    """Drop the weaker edge line while the field holds more characters than any training
    field of its label did: a dealer's line printed under a plate ("TARA AUTOMOBILES BTI
    ...", dev plate 14) that the network half believed made a 43-character plate, where no
    training plate had more than 16."""
    order = _lines_top_down(idx, tokens, lines)

    def chars() -> int:
        return sum(len(comparable(tokens[i].text)) for i in idx if tokens[i].line in order)

    while longest is not None and len(order) > 1 and chars() > longest:
        order.pop(0 if line_means[order[0]] <= line_means[order[-1]] else -1)
    return _on_lines(idx, tokens, order)


def _lines_top_down(
    idx: Sequence[int], tokens: Sequence[OcrToken], lines: Mapping[int, Box]
) -> list[int]:
    """The OCR lines the words ``idx`` are on, from the top."""
    return sorted({tokens[i].line for i in idx}, key=lambda n: lines[n].ymin)


def _on_lines(idx: list[int], tokens: Sequence[OcrToken], kept: Sequence[int]) -> list[int]:
    """The words of ``idx`` on the ``kept`` lines."""
    keep = set(kept)
    return [i for i in idx if tokens[i].line in keep]


def _enclosed(
    idx: list[int], tokens: Sequence[OcrToken], winners: np.ndarray, whole_lines: bool
) -> list[int]:
    """Untagged words that lie inside the extent of a cluster's words: the network can be
    unsure of a two-row plate's small "GN" (under "MH14", beside a tall "9239") when its
    neighbours are certain, and a word inside a field is part of it far more often than not.
    No floor on the word's probability: on the dev sets any floor (0.02, 0.1) read fewer
    fields right. For a label whose training fields take their whole lines (plates do, 97%
    of them), so do the untagged words on the cluster's lines: a huge close-up plate's last
    group "40GG" had p 0.05 beside a sure "KL 31 B"."""
    extent = enclosing(tokens[i].box for i in idx)
    chosen = set(idx)
    lines = {tokens[i].line for i in idx} if whole_lines else set()
    return [
        i
        for i, t in enumerate(tokens)
        if i not in chosen
        and winners[i] == 0
        and (t.line in lines or t.box.intersection(extent) >= ENCLOSED * t.box.area())
    ]


def _clusters(
    words: Sequence[OcrToken], label: str, layout: FieldLayout, slack: float
) -> list[list[int]]:
    """Connected groups of words, joined as close as the label's training fields are
    (``slack`` times their widest gaps)."""
    parent = list(range(len(words)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(words):
        for j in range(i + 1, len(words)):
            if layout.joins(label, a, words[j], slack):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(words)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _line_text(tokens: Sequence[OcrToken], words: Sequence[OcrToken]) -> str:
    """All the words of the lines the field's words are on."""
    lines = {w.line for w in words}
    return join_text([t for t in tokens if t.line in lines])


def _dedupe(idx: list[int], tokens: Sequence[OcrToken], prob: np.ndarray) -> list[int]:
    """Drop words the engine read twice (same text, heavily overlapping boxes)."""
    keep: list[int] = []
    for i in sorted(idx, key=lambda i: -prob[i]):
        if not any(
            tokens[j].text == tokens[i].text and tokens[j].box.iou(tokens[i].box) > 0.5
            for j in keep
        ):
            keep.append(i)
    return keep
