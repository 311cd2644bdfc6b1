"""Which separating mark a label's annotations write where the engine read another one.

On receipts the engine reads a faint comma as a period with full confidence: its lattice holds no
comma for a character model to choose, so re-reading cannot mend it ("LOT 38. 39 101
BOULEVARD." where the print and the annotation have commas). What the annotations do say is
which mark a label writes in which place: in receipt addresses, a period read after a number and
before a space is mostly annotated as a comma, one after a short word ("NO.", "JLN.") as a
period. So the mark is
learned per context (the mark read, the kind of word before it, what follows it) from readings
lined up with their annotations, and a mark is swapped only where the annotations wrote another
mark there more often than the one read.

The readings it learns from must be the ones it will correct at prediction time, so
``reread.py`` fits it on held-out readings (each read by a character model that did not see its
field) and keeps it only where cross-validation reads more fields right.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from docloop.ml.labels import comparable

MARKS = ".,:;"
SHORT = 3  # letters of a word that is likely an abbreviation ("NO", "JLN", "SDN")
FOLDS = 5
Context = tuple[str, str, str]  # the mark read, the word before it, what follows it


def contexts(text: str) -> Iterator[tuple[int, Context]]:
    """Each separating mark of ``text`` with its context."""
    for k, mark in enumerate(text):
        if mark in MARKS:
            yield k, (mark, _before(text[:k]), _after(text[k + 1 :]))


def _before(text: str) -> str:
    word = re.split(rf"[\s{re.escape(MARKS)}]", text)[-1]
    if not word:
        return "none"
    if any(c.isdigit() for c in word):
        return "number"
    return "short" if len(word) <= SHORT else "word"


def _after(text: str) -> str:
    if not text:
        return "end"
    c = text[0]
    if c.isspace():
        return "space"
    return "digit" if c.isdigit() else "letter" if c.isalpha() else "other"


def _lined_up(read: str, truth: str) -> dict[int, str]:
    """For each character of ``read`` the annotation's character at its place, where the two
    texts line up one to one."""
    out: dict[int, str] = {}
    matcher = difflib.SequenceMatcher(None, read, truth, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag in ("equal", "replace") and a1 - a0 == b1 - b0:
            out.update({a0 + k: truth[b0 + k] for k in range(a1 - a0)})
    return out


@dataclass
class PunctuationChannel:
    """Per context, the mark the annotations write instead of the one read."""

    swaps: dict[Context, str] = field(default_factory=dict)

    @classmethod
    def fit(cls, readings: Sequence[tuple[str, str]]) -> PunctuationChannel:
        """Learn from (reading, annotated text) pairs of one label."""
        written: dict[Context, Counter[str]] = defaultdict(Counter)
        for read, truth in readings:
            place = _lined_up(read, truth)
            for k, context in contexts(read):
                if k in place:
                    written[context][place[k]] += 1
        swaps = {}
        for context, counts in written.items():
            mark = context[0]
            other = max((m for m in MARKS if m != mark), key=lambda m: (counts[m], m))
            if counts[other] > counts[mark]:
                swaps[context] = other
        return cls(swaps)

    def apply(self, text: str) -> str:
        out = list(text)
        for k, context in contexts(text):
            out[k] = self.swaps.get(context, out[k])
        return "".join(out)

    def to_list(self) -> list[list[str]]:
        return [[*context, mark] for context, mark in sorted(self.swaps.items())]

    @classmethod
    def from_list(cls, rows: Sequence[Sequence[str]]) -> PunctuationChannel:
        return cls({(r[0], r[1], r[2]): r[3] for r in rows})


def cross_validated(readings: Sequence[tuple[str, str]]) -> PunctuationChannel | None:
    """The channel fitted on every reading, if channels fitted on four fifths read more of the
    held-out fifth right than the readings as they are; else None."""
    gained = 0
    for fold in range(FOLDS):
        channel = PunctuationChannel.fit([r for i, r in enumerate(readings) if i % FOLDS != fold])
        for read, truth in readings[fold::FOLDS]:
            right = comparable(truth)
            gained += (comparable(channel.apply(read)) == right) - (comparable(read) == right)
    channel = PunctuationChannel.fit(readings)
    return channel if gained > 0 and channel.swaps else None
