"""Known values: a label whose values recur is read as the nearest value seen in training.

A team's documents come from the same sellers again and again: on a receipts dataset two thirds of
the training ``company`` values and 60% of the ``address`` values occur on more than one receipt.
The OCR misreads a character or two of a long name ("SHAN ALAM" for "SHAH ALAM"), and no shape
rule can restore it; the training values can. Whether a label is like that is learned from its
training texts, not told: its values must recur (``MIN_REPEAT_SHARE``), and distinct values
must rarely look alike (``MAX_CONFUSABLE_SHARE``), which rules out dates and amounts ("19.00"
is one character from "9.00"), whose values also recur less (29% on the same receipts).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docloop.domain import OcrToken
from docloop.ml.labels import comparable
from docloop.ml.lexicon import DOMINANCE, MIN_COUNT, WORD, one_letter_apart, word_counts
from docloop.ml.tokens import join_text, reading_order

MIN_EXAMPLES = 10
MIN_REPEAT_SHARE = 0.5  # of a label's training texts, those whose value occurs more than once
MIN_SIMILARITY = 0.8  # difflib ratio between a prediction and the value it is read as
# Of the known value's characters, at most this share may differ from the prediction's: the
# shares tried per label (``tune``), and the one of labels not tuned.
EDIT_SHARES = (0.15, 0.12, 0.1, 0.08, 0.06)
MAX_EDIT_SHARE = 0.15
MAX_CONFUSABLE_SHARE = 0.5  # of a label's distinct values, those with a look-alike neighbour
CONFUSABLE_SAMPLE = 300


@dataclass
class KnownValues:
    """Per label that qualifies: each distinct value (``comparable``) and its text as written,
    and the share of a value's characters a reading may differ in (``edit_share``)."""

    values: dict[str, dict[str, str]] = field(default_factory=dict)
    edit_share: dict[str, float] = field(default_factory=dict)
    # Per label, the share of its training texts whose value occurs once: how often a value
    # is one never seen (Good-Turing). Absent in models trained before it: no such weighing.
    novel_share: dict[str, float] = field(default_factory=dict)
    # Per label, how many times its training texts use each word (``lexicon.word_counts``), so
    # a value's one-off spelling of a frequent word gives way to the reading's. Absent in models
    # trained before it: values are taken whole.
    words: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def fit(cls, examples: Iterable[tuple[str, str]]) -> KnownValues:
        """Learn from (label, text) pairs."""
        texts: dict[str, list[str]] = defaultdict(list)
        for label, text in examples:
            if comparable(text):
                texts[label].append(text)
        model = cls()
        for label, items in texts.items():
            counts = Counter(comparable(t) for t in items)
            repeated = sum(n for n in counts.values() if n > 1)
            if len(items) < MIN_EXAMPLES or repeated < MIN_REPEAT_SHARE * len(items):
                continue
            if _confusable_share(list(counts)) > MAX_CONFUSABLE_SHARE:
                continue
            # At least one: a value never seen is never impossible.
            model.novel_share[label] = max(len(items) - repeated, 1) / len(items)
            written = Counter(items)  # the most frequent spelling of each value is kept
            model.words[label] = dict(word_counts(items))
            model.values[label] = {}
            for text, _ in written.most_common():
                model.values[label].setdefault(comparable(text), text)
        return model

    def tune(self, readings: Iterable[tuple[str, str, str]]) -> None:
        """Choose each label's edit share from (label, the engine's reading of a training field,
        its annotated text): the share that reads the most fields right, each field read
        without its own value when no other field holds it (leave one out); of equals, the
        smallest.

        How far an engine's reading may be from a value it is read as depends on the label. On
        a receipts dataset, a share of 0.15 read the most company names right (356 of 403 against
        344 at 0.10), while addresses did best at 0.08 and 0.10 (323 of 404 against 319): a chain's
        branches share most of an address, and "... SELANGOR 1605-TMN SRI BINTANG" differs in
        7 of 74 characters from another branch's "... SELANGOR 1181-TMN SRI SINAR"."""
        by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for label, reading, text in readings:
            if label in self.values and comparable(reading) and comparable(text):
                by_label[label].append((comparable(reading), comparable(text)))
        for label, cases in by_label.items():
            counts = Counter(text for _, text in cases)
            right = dict.fromkeys(EDIT_SHARES, 0)
            for reading, text in cases:
                known = self.values[label]
                if counts[text] == 1 and text in known:
                    known = {k: v for k, v in known.items() if k != text}
                for share in EDIT_SHARES:
                    right[share] += _read(known, reading, share) == text
            # On ties, the smallest: rewrite no more of what the engine read than helps.
            self.edit_share[label] = max(EDIT_SHARES, key=lambda s: (right[s], -s))

    def read(self, label: str, text: str) -> str:
        """``text`` as the known value it most resembles, or unchanged when none is close."""
        known = self.values.get(label)
        key = comparable(text)
        if not known or not key:
            return text
        found = _read(known, key, self.edit_share.get(label, MAX_EDIT_SHARE))
        if found not in known:
            return text
        return known[found] if found == key else self._with_read_words(label, known[found], text)

    def _with_read_words(self, label: str, value: str, reading: str) -> str:
        """``value`` with each word of it that the label's texts seldom use replaced by the
        reading's word one letter away that they use often (``lexicon.DOMINANCE`` times as
        often, ``lexicon.MIN_COUNT`` times at least).

        A value seen on one training page carries that page's annotation, typos included: a
        seller's one receipt annotated "SHAN ALAM" turned the engine's right "SHAH ALAM" on the
        seller's next receipt into the typo, where the label's other texts spell SHAH many
        times. Where the engine and the label's words agree against one annotation, the
        annotation is the likelier mistake. A reading's own misread word is seldom a frequent
        one, so it leaves the value as it is."""
        counts = self.words.get(label)
        if not counts:
            return value
        read = {w.upper() for w in WORD.findall(reading)}

        def mended(found: re.Match[str]) -> str:
            word = found[0].upper()
            near = [
                (counts[w], w)
                for w in read
                if counts.get(w, 0) >= max(MIN_COUNT, DOMINANCE * counts.get(word, 0))
                and one_letter_apart(word, w) is not None
            ]
            if word in read or not near:
                return found[0]
            _, chosen = max(near)
            cased = zip(found[0], chosen, strict=True)
            return "".join(c if o.isupper() else c.lower() for o, c in cased)

        return WORD.sub(mended, value)

    def widen(
        self, label: str, words: Sequence[OcrToken], tokens: Sequence[OcrToken]
    ) -> Sequence[OcrToken]:
        """The field's words with the words printed around them (on their lines and the lines
        next to them, in reading order) that make up a known value the field's text is part
        of; the field's words alone where none does, or where their text is a value itself.

        The network can tag part of a name it has seen many times: "PASAR MINI JIN" of the
        line "PASAR MINI JIN SENG", or a seller's second line without the first ("ENTERPRISE
        (SETIA ALAM) SDN BHD" under "AIK HUAT HARDWARE") whose full name other training
        receipts hold. The page itself must print the rest."""
        known = self.values.get(label)
        if not known:
            return words
        have = comparable(join_text(words))
        wider = [k for k in known if have in k] if have and have not in known else []
        if not wider:
            return words
        lines = {w.line + d for w in words for d in (-1, 0, 1)}
        order = reading_order([t for t in tokens if t.line in lines])
        inside = [i for i, t in enumerate(order) if t in words]
        share = self.edit_share.get(label, MAX_EDIT_SHARE)
        runs = [
            order[start:end]
            for start in range(inside[0] + 1)
            for end in range(inside[-1] + 1, len(order) + 1)
            if end - start > len(words)
        ]
        found = []  # (characters apart, words, the run of words)
        for run in runs:
            key = comparable(join_text(run))
            for value in wider:
                edits = _edits(key, value)
                if edits <= max(1.0, share * len(value)):
                    found.append((edits, len(run), run))
        return min(found, key=lambda f: f[:2])[2] if found else words

    def plausibility(self, label: str, text: str) -> float:
        """How likely the label's value is to be ``text``, as far as values seen say: 1 for a
        value seen in training, and for labels without known values; else how often a value
        is a new one (``novel_share``)."""
        known = self.values.get(label)
        if not known or comparable(text) in known:
            return 1.0
        return self.novel_share.get(label, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "edit_share": self.edit_share,
            "novel_share": self.novel_share,
            "words": self.words,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> KnownValues:
        """Models trained before known values existed read every text unchanged."""
        return cls(**(data or {}))


def _read(known: Mapping[str, str], key: str, share: float) -> str:
    """The known value (``comparable``) ``key`` is read as, or ``key`` itself."""
    if key in known:
        return key
    close = difflib.get_close_matches(key, known, n=1, cutoff=MIN_SIMILARITY)
    if close and _edits(key, close[0]) <= max(1.0, share * len(close[0])):
        return close[0]
    return key


def _edits(a: str, b: str) -> int:
    """Characters changed, inserted or deleted to turn ``a`` into ``b`` (difflib's alignment).

    A similarity ratio of 0.8 lets a 70-character address differ in fourteen characters, and a
    seller never seen in training whose name ends like a known one ("HON HWA HARDWARE TRADING")
    was read as that one ("TSH POWER HARDWARE TRADING"). The engine misreads a character or two
    of a line (about 1.5% of a receipt's characters), so a reading that far off is a different
    value, not a misread one.
    """
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"
    )


def _confusable_share(keys: list[str]) -> float:
    """Share of distinct values with another one at least ``MIN_SIMILARITY`` alike.

    Estimated on at most ``CONFUSABLE_SAMPLE`` of them (every ``step``-th in sorted order), so
    that a label with thousands of distinct values costs seconds, not minutes, of training.
    """
    if len(keys) < 2:
        return 0.0
    ordered = sorted(keys)
    step = max(1, len(ordered) // CONFUSABLE_SAMPLE)
    sample = ordered[::step]
    confusable = 0
    for key in sample:
        others = [k for k in ordered if k != key]
        if difflib.get_close_matches(key, others, n=1, cutoff=MIN_SIMILARITY):
            confusable += 1
    return confusable / len(sample)
