"""Per-word class probabilities -> fields: grouped words, a refined box, corrected text."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from docloop.domain import Box, FieldPrediction, OcrToken, enclosing
from docloop.ml.boxes import BoxRefiner, BoxSample, line_boxes
from docloop.ml.calibration import Calibration, logit
from docloop.ml.decoding import DecodeConfig
from docloop.ml.labels import comparable
from docloop.ml.layout import FieldLayout
from docloop.ml.lexicon import foreign, last_word
from docloop.ml.reread import Rereader
from docloop.ml.rounding import prefer_usual_ending
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import join_text, rows_of


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
    config: DecodeConfig = DecodeConfig(),  # noqa: B008 (frozen, so safe to share)
    calibration: Calibration | None = None,
) -> list[FieldPrediction]:
    """Words tagged with a label, grouped into nearby clusters; one prediction per cluster.

    A cluster's score is its tagged words' mean probability times how plausible its text is for
    the label (``TextShapeModel.plausibility``: a shape its values never took, a value never
    seen where values recur): the network can be surer of a misread fragment ("2920/1,") than
    of the date on another line.

    The k-th strongest cluster of a label is scored down by how often training pages held k
    instances of it, unless the network tagged its words with the label itself
    (``DecodeConfig.tagged_instances``): a doubted second plate on a photo where training photos
    show one is most likely a dealer's sign, and is kept with a low score for a reviewer, while a
    second group the network read as a plate is the photo that does show two cars.

    A label no word wins is still read from its likeliest word when that word is not too
    unlikely, or whatever its probability when nearly every training page held the label (a
    receipt's total): a low-scored guess is something for a reviewer to confirm, where nothing
    is a field to type, and on held-out receipts such guesses were right two times in three.

    Words another class won but the network gave this label some belief (``doubt_min_prob``)
    make candidates too, after the label's own fields, each scored by its words' probability
    like any other: where the winner's text is implausible for the label, a plausible doubted
    reading can outrank it (a date or a total), and where the network barely saw a field, a
    low-scored candidate still points a reviewer at it (a small second plate). Routing does
    not wait on them, and unconfirmed they are neither training data nor exported
    (``routing.alternatives``).

    Where the model learned a label's ``calibration``, a candidate's score is instead the
    chance that its box is right, from its evidence (``Candidate.evidence``); the rank prior
    still applies.
    """
    found = candidates(
        tokens, probs, labels, width=width, height=height, refiner=refiner, shapes=shapes,
        layout=layout, reader=reader, config=config,
    )  # fmt: skip
    return score_fields(found, layout, calibration, config.tagged_instances)


def score_fields(
    found: Sequence[Candidate],
    layout: FieldLayout,
    calibration: Calibration | None,
    tagged_instances: bool,
) -> list[FieldPrediction]:
    """The candidates as fields, each label's best first: calibrated scores where the
    calibration knows the label, raw ones elsewhere, times the rank prior (except, with
    ``tagged_instances``, for a later instance of words the network tagged with the label).
    Where the best one's amount is a rounding twin of another's, the label's learned endings
    choose between them (``rounding.prefer_usual_ending``)."""
    out: list[FieldPrediction] = []
    by_label: dict[str, list[Candidate]] = {}
    for c in found:
        by_label.setdefault(c.prediction.label, []).append(c)
    for label, mine in by_label.items():
        scored = [
            (
                replace(c.prediction, score=calibration.score(label, c.evidence))
                if calibration is not None and calibration.knows(label)
                else c.prediction,
                c.tagged,
            )
            for c in mine
        ]
        scored.sort(key=lambda pair: -pair[0].score)
        scored = prefer_usual_ending(scored, layout.endings.get(label))
        out.extend(
            p
            if rank and tagged and tagged_instances
            else replace(p, score=p.score * layout.rank_prior(label, rank))
            for rank, (p, tagged) in enumerate(scored)
        )
    return out


@dataclass(frozen=True, slots=True)
class Candidate:
    """A field the words make before scores are compared: its prediction, scored raw, and the
    evidence a calibration scores it from (``calibration.EVIDENCE``)."""

    prediction: FieldPrediction
    evidence: tuple[float, ...]
    tagged: bool = False  # made of words the network tagged with the label (not doubted ones)


def candidates(
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
    config: DecodeConfig = DecodeConfig(),  # noqa: B008 (frozen, so safe to share)
) -> list[Candidate]:
    """Every field ``group_fields`` considers, label by label, each label's own first and then
    those of words the network doubted; raw scores, no rank prior."""
    out: list[Candidate] = []
    if len(tokens) == 0:
        return out
    winners = probs.argmax(axis=1)
    page = _Page(
        tokens,
        probs,
        winners,
        line_boxes(tokens),
        width,
        height,
        refiner,
        shapes,
        layout,
        reader,
        config,
    )
    for k, label in enumerate(labels, start=1):
        members = [i for i in range(len(tokens)) if winners[i] == k]
        tagged = bool(members)
        if not members:
            best = int(probs[:, k].argmax())
            if probs[best, k] < config.fallback_min_prob and not layout.always_present(label):
                continue
            members = [best]
        members = _grow(members, tokens, probs, winners, k, label, layout, config.grow_min_prob)
        made = [(replace(c, tagged=tagged), idx) for c, idx in page.fields(k, label, members)]
        taken = {i for c in made for i in c[1]}
        doubted = [
            i
            for i in range(len(tokens))
            if i not in taken and winners[i] != k and probs[i, k] >= config.doubt_min_prob
        ]
        if doubted:
            made += page.fields(k, label, doubted)
        out.extend(c for c, _ in made)
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
    config: DecodeConfig

    def fields(self, k: int, label: str, chosen: list[int]) -> list[tuple[Candidate, list[int]]]:
        """The fields the words ``chosen`` make for ``label`` (class ``k``), each with the words
        it was read from."""
        tokens, lines, layout, shapes, config = (
            self.tokens,
            self.lines,
            self.layout,
            self.shapes,
            self.config,
        )
        prob = self.probs[:, k]
        line_means = _line_means(tokens, prob)
        # A split field is likelier than a second instance of a label pages rarely hold twice.
        rare = layout.rank_prior(label, 1) < config.rare_second
        slack = config.rare_second_slack if rare else 1.0
        made = []
        parts = []
        for cluster in _clusters([tokens[i] for i in chosen], label, layout, slack):
            tagged = _trim_edge_lines(
                [chosen[j] for j in cluster], tokens, lines, line_means, config,
                lambda kept, whole: self._completes(label, kept, whole),
            )  # fmt: skip
            tagged = _trim_foreign_lines(tagged, tokens, lines, layout.vocabulary.get(label))
            tagged = _trim_after_closing(tagged, tokens, lines, layout.closing.get(label))
            tagged = _trim_to_length(tagged, tokens, lines, line_means, layout.longest.get(label))
            parts += _within_rows(tagged, tokens, layout.most_rows.get(label))
        for tagged in parts:
            whole = label in layout.whole_line
            enclosed = _enclosed(tagged, tokens, self.winners, whole, config.enclosed)
            idx = _dedupe(tagged + enclosed, tokens, prob, config.duplicate_iou)
            words = shapes.known.widen(label, [tokens[i] for i in idx], tokens)
            text = shapes.correct_in_line(
                label, self._read(label, words), _line_text(tokens, words)
            )
            row: list[int] = []
            if config.adjacent_rows:
                row, text = self._completing_row(label, words, text)
                words = [*words, *(tokens[i] for i in row)]
            sample = BoxSample.of_words(label, words, lines, self.width, self.height)
            # Enclosed words (and a row that completes the value) join the text, not the
            # score: they were the network's doubt.
            tagged_p = float(np.mean(prob[[i for i in idx if i not in enclosed] or idx]))
            plausible = shapes.plausibility(label, text)
            prediction = FieldPrediction(
                label=label,
                box=self.refiner.refine(sample),
                text=text,
                score=tagged_p * plausible,
            )
            evidence = (logit(prediction.score), self.refiner.atypical(sample))
            made.append((Candidate(prediction, evidence), idx + row))
        return made

    def _completes(self, label: str, kept: list[int], whole: list[int]) -> bool:
        """Whether the words ``whole`` read as a value of a shape the label's values take where
        the words ``kept`` alone do not (``TextShapeModel.completed``). For a label whose
        fields take their whole lines, each is read with the untagged words of its lines, as
        the field will be (``_enclosed``): a plate's "37" the network doubted between a
        tagged "TN" and "CF"."""
        text = self.shapes.correct(label, self._read(label, self._as_read(label, kept)))
        wider = self._read(label, self._as_read(label, whole))
        return self.shapes.completed(label, text, wider) is not None

    def _as_read(self, label: str, idx: list[int]) -> list[OcrToken]:
        """The words ``idx``, with the untagged words of their lines where the label's fields
        take whole lines."""
        if label not in self.layout.whole_line:
            return [self.tokens[i] for i in idx]
        lines, chosen = {self.tokens[i].line for i in idx}, set(idx)
        return [
            t
            for i, t in enumerate(self.tokens)
            if i in chosen or (t.line in lines and self.winners[i] == 0)
        ]

    def _read(self, label: str, words: Sequence[OcrToken]) -> str:
        """The words' text, read again for the label where its model learned how."""
        return (self.reader and self.reader.reread(label, words)) or join_text(words)

    def _completing_row(
        self, label: str, words: Sequence[OcrToken], text: str
    ) -> tuple[list[int], str]:
        """The untagged row right above or below the field's ``words`` that completes a value
        of a shape the label's values take (``TextShapeModel.completed``), and the text read
        with it; no row and ``text`` where none does.

        The network can miss one row of a two-row plate, an unusual word where the label's
        other words are sure; read with it, the field takes one of the label's formats, and
        read alone it takes none. The shapes learned from the user's values say which rows
        complete a value, so a dealer's line under a plate is left out."""
        taken: list[int] = []
        for row in _rows_beside(words, self.tokens, self.winners, label, self.layout):
            wider = [*words, *(self.tokens[i] for i in taken + row)]
            found = self.shapes.completed(label, text, self._read(label, wider))
            if found is not None:
                taken, text = taken + row, found
        return taken, text


def _rows_beside(
    words: Sequence[OcrToken],
    tokens: Sequence[OcrToken],
    winners: np.ndarray,
    label: str,
    layout: FieldLayout,
) -> list[list[int]]:
    """The untagged words of the row right above ``words`` and of the row right below, where
    the label's training fields spanned two rows or more: words no class won, on other lines,
    centred over or under the field and within the gaps the label's fields keep
    (``FieldLayout.joins``)."""
    if layout.most_rows.get(label, 1) < 2:
        return []
    lines = {w.line for w in words}
    left, right = min(w.box.xmin for w in words), max(w.box.xmax for w in words)
    top, bottom = min(w.box.ymin for w in words), max(w.box.ymax for w in words)
    near = [
        i
        for i, t in enumerate(tokens)
        if winners[i] == 0
        and t.line not in lines
        and left <= t.box.center[0] <= right
        and any(layout.joins(label, t, w) for w in words)
    ]
    above = [i for i in near if tokens[i].box.center[1] < top]
    below = [i for i in near if tokens[i].box.center[1] > bottom]
    rows = []
    if above:
        rows.append([above[k] for k in rows_of([tokens[i] for i in above])[-1]])
    if below:
        rows.append([below[k] for k in rows_of([tokens[i] for i in below])[0]])
    return rows


def _grow(
    members: list[int],
    tokens: Sequence[OcrToken],
    probs: np.ndarray,
    winners: np.ndarray,
    k: int,
    label: str,
    layout: FieldLayout,
    min_prob: float,
) -> list[int]:
    """Add weaker words next to tagged ones (hysteresis): a plate's short "37" between "TN" and
    "CF" is less sure on its own than beside its neighbours."""
    chosen = set(members)
    candidates = [
        i
        for i in range(len(tokens))
        if i not in chosen and winners[i] == 0 and probs[i, k] >= min_prob
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
    config: DecodeConfig,
    completes: Callable[[list[int], list[int]], bool],
) -> list[int]:
    """Drop the top or bottom line of a field spanning two or more when the network thinks
    that line, all its words taken together, less likely than not part of it: a branch line
    ("Damansara Utama Outlet") above an address, a trade name printed over a company's
    registered name. Lines in between stay. Of the last ``min_lines_kept`` (two), the doubted
    one stays where the field read with it ``completes`` a value of a shape the label's values
    take and read without it does not: one row of a two-row plate can be that doubtful, and
    cutting it costs the whole field. Models trained before ``doubted_rows_by_shape`` keep
    those lines whatever they read."""
    order = _lines_top_down(idx, tokens, lines)
    while len(order) > 1:
        top, bottom = line_means[order[0]], line_means[order[-1]]
        if min(top, bottom) >= config.edge_line_min_prob:
            break
        weaker = 0 if top <= bottom else -1
        if len(order) <= config.min_lines_kept:
            rest = order[1:] if weaker == 0 else order[:-1]
            if not config.doubted_rows_by_shape or completes(
                _on_lines(idx, tokens, rest), _on_lines(idx, tokens, order)
            ):
                break
        order.pop(weaker)
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


def _trim_after_closing(
    idx: list[int],
    tokens: Sequence[OcrToken],
    lines: Mapping[int, Box],
    closing: Sequence[str] | None,
) -> list[int]:
    """Drop the lines below the first line of a field that ends with a word closing the
    label's values (``lexicon.closing_words``): a receipt's branch or mall printed under its
    seller's "... SDN BHD" is no part of the name."""
    if not closing:
        return idx
    order = _lines_top_down(idx, tokens, lines)
    for k, n in enumerate(order[:-1]):
        if last_word([tokens[i] for i in idx if tokens[i].line == n]) in closing:
            return _on_lines(idx, tokens, order[: k + 1])
    return idx


def _trim_to_length(
    idx: list[int],
    tokens: Sequence[OcrToken],
    lines: Mapping[int, Box],
    line_means: dict[int, float],
    longest: int | None,
) -> list[int]:
    """Drop the weaker edge line while the field holds more characters than any training
    field of its label did: a dealer's line printed under a plate ("TARA AUTOMOBILES BTI
    ...") that the network half believed made a 43-character plate, where no
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
    idx: list[int],
    tokens: Sequence[OcrToken],
    winners: np.ndarray,
    whole_lines: bool,
    share: float,
) -> list[int]:
    """Untagged words that lie inside the extent of a cluster's words: the network can be
    unsure of a two-row plate's small "GN" (under "MH14", beside a tall "9239") when its
    neighbours are certain, and a word inside a field is part of it far more often than not.
    No floor on the word's probability: in cross-validation any floor (0.02, 0.1) read fewer
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
        and (t.line in lines or t.box.intersection(extent) >= share * t.box.area())
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


def _within_rows(idx: list[int], tokens: Sequence[OcrToken], most: int | None) -> list[list[int]]:
    """A cluster of words spanning more rows than any of the label's training fields did
    (``most``), cut at its widest gap between rows until no part does. Two plates stacked in
    one photo are each within the gaps a two-row plate taught, so the label's gaps join them
    into one field boxed over both; the rows they add up to tell them apart. A new field of
    the label spans more rows than all of its n training fields at most once in n + 1 (any
    order of n + 1 fields is as likely), so the cut seldom breaks a real one. It runs after
    the edge lines are trimmed, so a line that is no part of the field is dropped rather than
    made a field of its own."""
    if most is None:
        return [idx]
    rows = rows_of([tokens[i] for i in idx])
    if len(rows) <= most:
        return [idx]
    bands = [
        (min(tokens[idx[k]].box.ymin for k in row), max(tokens[idx[k]].box.ymax for k in row))
        for row in rows
    ]
    cut = 1 + max(range(len(rows) - 1), key=lambda r: bands[r + 1][0] - bands[r][1])
    upper = [idx[k] for row in rows[:cut] for k in row]
    lower = [idx[k] for row in rows[cut:] for k in row]
    return _within_rows(upper, tokens, most) + _within_rows(lower, tokens, most)


def _line_text(tokens: Sequence[OcrToken], words: Sequence[OcrToken]) -> str:
    """All the words of the lines the field's words are on."""
    lines = {w.line for w in words}
    return join_text([t for t in tokens if t.line in lines])


def _dedupe(
    idx: list[int], tokens: Sequence[OcrToken], prob: np.ndarray, same_iou: float
) -> list[int]:
    """Drop words the engine read twice (same text, heavily overlapping boxes)."""
    keep: list[int] = []
    for i in sorted(idx, key=lambda i: -prob[i]):
        if not any(
            tokens[j].text == tokens[i].text and tokens[j].box.iou(tokens[i].box) > same_iou
            for j in keep
        ):
            keep.append(i)
    return keep
