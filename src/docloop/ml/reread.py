"""Reading a field's words again with what its label's training texts say characters follow.

The recognizer's lattice (``lattice.py``) says which characters each step could be; a character
model of a label's texts (an n-gram over the annotated values) says which sequences that label
takes. A beam search over the lattice weighs both, so a plate read "MK12..." where "H" was the
runner-up becomes "MH12..." when the user's plates start with MH. Characters a label's texts never
contain (spaces and dots on plates) pass through unscored and are no context; a letter the texts
hold only in the other case (lower case where values are annotated in capitals) is context as the
texts write it: a receipt reading "No." ends its "NO", where a period is far likelier than the
comma that follows most words. Where the engine hesitated between such letters only (an "l" or an
"i"), each is also scored as the texts write it. Passed unscored, the letters after it were still
scored in its context, so the rarer context won: "Jalan", read with an "l" a little surer than an
"i", became "Jaian", since a space after "IAN" was likelier than after "LAN", which the texts go on
from in many ways. Where a step also holds a letter the texts write (an upper-case "I" beside a
lower-case "l"), the case is what the engine saw and a model of capitals cannot judge it, so the
folded letter stays unscored; scored there too, "World" was read "WorId". Re-reading the annotated
boxes of five folds of receipts ``train``, the held-out fields read right 1271 times of 1555
against 1269 ("Wisma", "Kuala", "Seksyen", "Old Town"); whole models on those folds read one
address fewer ("PARINDUSTRIAN", as read and annotated, read as the texts spell it) and one
character more right, and number plates, annotated in capitals, read as before. Models fitted
before never score them (``Rereader.scores_folded``). A letter or digit the texts hold in neither
case costs what the model gives an unseen character, or an accented runner-up would win for free
("SDN" re-read as "SÚN").

How much the character model weighs is chosen per label, by cross-validation on the training
fields: a label whose texts do not predict its characters keeps weight 0, so it reads exactly as
the engine did. On number plates, exact reads of single-line plates rose from 152 to 160 of 190
in five-fold cross-validation. The same cross-validation decides whether a misread word is
first mended to a frequent word of the label's texts (``lexicon.py``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from docloop.domain import Lattice, OcrToken
from docloop.ml import lexicon
from docloop.ml.labels import comparable
from docloop.ml.lattice import BLANK, greedy, join
from docloop.ml.punctuation import PunctuationChannel, cross_validated
from docloop.ml.tokens import reading_order

ORDER = 4  # characters of context, plus one
DISCOUNT = 0.7
WEIGHTS = (0.0, 0.3, 0.6)  # tried per label; the first wins ties
FOLDS = 5
# Fields per label the weight is chosen on, evenly spread (bounds training time). Too few (300
# of 400 company names) and which fields were drawn (the pages' upload order) decided between
# weights, so two trainings on the same files read differently.
CV_FIELDS = 1000
MIN_TEXTS = 10  # fewer training texts than this: no character model
BEAM = 10
START, END = "\x02", "\x03"


@dataclass
class CharModel:
    """Interpolated absolute-discounting n-gram model of one label's texts."""

    counts: dict[str, dict[str, int]]  # context -> next character -> count
    _cache: dict[tuple[str, str], float] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fit(cls, texts: Iterable[str]) -> CharModel:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for text in texts:
            padded = START * (ORDER - 1) + text + END
            for k in range(ORDER - 1, len(padded)):
                for n in range(ORDER):
                    counts[padded[k - n : k]][padded[k]] += 1
        return cls({h: dict(c) for h, c in counts.items()})

    @property
    def alphabet(self) -> set[str]:
        return set(self.counts.get("", {})) - {END}

    def logp(self, context: str, char: str) -> float:
        """log P(char | the last ORDER - 1 characters of context)."""
        key = (context[-(ORDER - 1) :], char)
        if key not in self._cache:
            self._cache[key] = math.log(self._p(*key))
        return self._cache[key]

    def _p(self, context: str, char: str) -> float:
        lower = self._p(context[1:], char) if context else 1.0 / (len(self.counts[""]) + 1)
        seen = self.counts.get(context)
        if not seen:
            return lower
        total = sum(seen.values())
        own = max(seen.get(char, 0) - DISCOUNT, 0.0) / total
        return own + DISCOUNT * len(seen) / total * lower


def decode(lattice: Lattice, model: CharModel, weight: float, scores_folded: bool = True) -> str:
    """The text maximising log P(lattice) + weight * log P_model(text), by prefix beam search;
    with ``scores_folded`` (not for models fitted before), a letter the texts hold only in the
    other case is scored as they write it where its step holds no letter they write."""
    if weight == 0.0:
        return greedy(lattice)
    alphabet = model.alphabet
    # text -> [P(ending in blank), P(ending in its last character), model log-prob, context]
    beams: dict[str, list[Any]] = {"": [1.0, 0.0, 0.0, START * (ORDER - 1)]}
    for step in lattice:
        nxt: dict[str, list[Any]] = {}
        scored = scores_folded and not any(c.isalpha() and c in alphabet for c, _ in step)
        for text, (p_blank, p_char, lm, ctx) in beams.items():
            for char, p in step:
                if char == BLANK:
                    _add(nxt, text, p * (p_blank + p_char), 0.0, lm, ctx)
                elif text and text[-1] == char:
                    _add(nxt, text, 0.0, p * p_char, lm, ctx)  # the same character, held
                    _extend(nxt, text, char, p * p_blank, lm, ctx, model, alphabet, scored)
                else:
                    _extend(
                        nxt,
                        text,
                        char,
                        p * (p_blank + p_char),
                        lm,
                        ctx,
                        model,
                        alphabet,
                        scored,
                    )
        ranked = sorted(nxt.items(), key=lambda kv: -_score(kv[1], weight))[:BEAM]
        total = sum(v[0] + v[1] for _, v in ranked) or 1.0
        beams = {t: [v[0] / total, v[1] / total, v[2], v[3]] for t, v in ranked}

    def final(item: tuple[str, list[Any]]) -> float:
        v = item[1]
        return _score(v, weight) + weight * model.logp(v[3], END)

    return max(beams.items(), key=final)[0]


def _add(beams: dict[str, list[Any]], text: str, pb: float, pc: float, lm: float, ctx: str) -> None:
    entry = beams.setdefault(text, [0.0, 0.0, lm, ctx])
    entry[0] += pb
    entry[1] += pc


def _extend(
    beams: dict[str, list[Any]],
    text: str,
    char: str,
    p: float,
    lm: float,
    ctx: str,
    model: CharModel,
    alphabet: set[str],
    scores_folded: bool,
) -> None:
    if char in alphabet:
        lm, ctx = lm + model.logp(ctx, char), (ctx + char)[-(ORDER - 1) :]
    elif char.upper() in alphabet or char.lower() in alphabet:
        folded = char.upper() if char.upper() in alphabet else char.lower()
        if scores_folded:
            lm += model.logp(ctx, folded)
        ctx = (ctx + folded)[-(ORDER - 1) :]
    elif char.isalnum():
        lm += model.logp(ctx, char)
    _add(beams, text + char, 0.0, p, lm, ctx)


def _score(v: list[Any], weight: float) -> float:
    return math.log(v[0] + v[1] + 1e-300) + weight * v[2]


@dataclass
class Rereader:
    """Per label, a character model and the weight cross-validation gave it, and, where
    they help, the counts of the words its texts use to mend misread words (``lexicon.py``)
    and the marks its annotations write instead of the ones read (``punctuation.py``)."""

    models: dict[str, CharModel] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    words: dict[str, dict[str, int]] = field(default_factory=dict)
    marks: dict[str, PunctuationChannel] = field(default_factory=dict)
    scores_folded: bool = True  # see ``decode``; False for models fitted before
    # Per label, the cross-validation's held-out fields as the chosen reading read them, with
    # their annotated texts: what the decoders after re-reading learn from (not saved).
    held_out: dict[str, list[tuple[str, str]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def fit(cls, fields: Sequence[tuple[str, str, Lattice | None]]) -> Rereader:
        """Learn from (label, annotated text, lattice of the words the annotation covers)."""
        texts: dict[str, list[str]] = defaultdict(list)
        for label, text, _ in fields:
            if text:
                texts[label].append(text)
        reader = cls()
        for label, values in texts.items():
            if len(values) < MIN_TEXTS:
                continue
            # In an order of their own, so the folds do not depend on the order pages came in.
            cases = sorted(
                ((t, lat) for lab, t, lat in fields if lab == label and t and lat),
                key=lambda case: (case[0], greedy(case[1])),
            )
            cases = cases[:: -(-len(cases) // CV_FIELDS)] if cases else cases
            counts = lexicon.word_counts(values)
            reader.weights[label], mends, held_out = _cross_validated(cases, counts)
            if reader.weights[label]:
                reader.models[label] = CharModel.fit(values)
            if mends:
                reader.words[label] = dict(counts)
            reader.held_out[label] = held_out
            channel = cross_validated(held_out)
            if channel is not None:
                reader.marks[label] = channel
        return reader

    def reread(self, label: str, words: Sequence[OcrToken]) -> str | None:
        """The words' text read again for ``label``; None where nothing changes how they read
        (nothing learned for the label, or a word without a lattice)."""
        model, counts, marks = self.models.get(label), self.words.get(label), self.marks.get(label)
        lattice = words_lattice(words)
        if lattice is None or (model is None and counts is None and marks is None):
            return None
        if counts is not None:
            lattice = lexicon.mend(lattice, counts)
        text = (
            greedy(lattice)
            if model is None
            else decode(lattice, model, self.weights[label], self.scores_folded)
        )
        return text if marks is None else marks.apply(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": {k: m.counts for k, m in self.models.items()},
            "weights": self.weights,
            "words": self.words,
            "marks": {k: m.to_list() for k, m in self.marks.items()},
            "scores_folded": self.scores_folded,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rereader:
        """Models trained before the lexicon mend no words, and before the punctuation channel
        keep every mark as read, and before case-folded letters were scored pass them unscored."""
        models = {k: CharModel(c) for k, c in data["models"].items()}
        marks = {k: PunctuationChannel.from_list(m) for k, m in data.get("marks", {}).items()}
        folded = bool(data.get("scores_folded", False))
        return cls(models, data["weights"], data.get("words", {}), marks, folded)


def words_lattice(words: Sequence[OcrToken]) -> Lattice | None:
    """The lattice of words read as ``join_text`` reads them; None if one has none."""
    lattices = [w.lattice for w in reading_order(words)]
    if not lattices or any(x is None for x in lattices):
        return None
    return join([x for x in lattices if x is not None])


def _cross_validated(
    cases: Sequence[tuple[str, Lattice]], counts: Counter[str]
) -> tuple[float, bool, list[tuple[str, str]]]:
    """The weight, and whether to mend misread words first (``lexicon.py``), that read the
    most held-out fields right, each fold's model fitted on the other folds' texts and each
    field mended without its fold's words; of equals, no mending and the smallest weight. With
    them, the held-out fields as that choice read them, paired with their annotated texts:
    what the punctuation channel learns from, as prediction will read unseen fields.

    The fields of one value go to one fold, so no field is read by a model that learned its
    value: dealt one by one, a plate photographed twice was read back by a model that had its
    text by heart, which credits the model with what it cannot do for a plate never seen.

    Measured on receipt addresses: 268 of 404 read right as the engine read them, 300 with
    the character model, 306 with both."""
    readings: dict[tuple[float, bool], list[tuple[str, str]]] = defaultdict(list)
    distinct = {t: n for n, t in enumerate(dict.fromkeys(comparable(t) for t, _ in cases))}
    folds = [distinct[comparable(t)] % FOLDS for t, _ in cases]
    for fold in range(FOLDS):
        held = [case for case, f in zip(cases, folds, strict=True) if f == fold]
        rest = [t for (t, _), f in zip(cases, folds, strict=True) if f != fold]
        # A label of one value has no other fold to learn from: its fields read as read.
        model = CharModel.fit(rest) if rest else None
        unseen = counts - lexicon.word_counts([t for t, _ in held])
        for text, lattice in held:
            mended = lexicon.mend(lattice, unseen)
            for w in WEIGHTS:
                for m, source in ((False, lattice), (True, mended)):
                    read = greedy(source) if model is None else decode(source, model, w)
                    readings[w, m].append((read, text))

    def right(key: tuple[float, bool]) -> int:
        return sum(comparable(read) == comparable(text) for read, text in readings[key])

    best = max(
        ((w, m) for w in WEIGHTS for m in (False, True)),
        key=lambda k: (right(k), not k[1], -k[0]),
    )
    return best[0], best[1], readings[best]
