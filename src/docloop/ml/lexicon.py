"""The words a label's texts are made of, to mend a word the engine misread by one letter.

Addresses are written with a small vocabulary (JALAN, TAMAN, SELANGOR, ...), and the engine
misreads a letter of such a word ("SCLANGOR", "JAIAN", "TANAN"). A word the label's training
texts never hold, one letter away from a word they hold often, is likely that word, but only
where the engine itself saw that letter as a possibility at that place (its lattice): on the
dev receipts' training addresses, mending that the lattice supported was right 15 times and
wrong once, while mending it did not support was wrong 6 times in 7 ("GAYA" is no misread
"JAYA"). Whether a label is mended is learned with its character model (``reread.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from docloop.domain import Lattice, Step
from docloop.ml.lattice import BLANK, alternatives, greedy

WORD = re.compile(r"[A-Za-z]{3,}")
MIN_COUNT = 5  # training texts' uses of a word, for a misreading to be mended to it
DOMINANCE = 2.0  # the chosen word is used this many times as often as the next candidate


def word_counts(texts: Sequence[str]) -> Counter[str]:
    """How many times each word (upper case) occurs in ``texts``."""
    return Counter(w.upper() for t in texts for w in WORD.findall(t))


def mend(lattice: Lattice, counts: Mapping[str, int]) -> Lattice:
    """``lattice`` with each word the counts never saw made sure of the frequent word one
    letter away, where the lattice held that letter as an alternative."""
    text = greedy(lattice)
    seen = alternatives(lattice)
    frequent = [w for w, n in counts.items() if n >= MIN_COUNT]
    changes: dict[int, str] = {}  # character index in ``text`` -> its new character
    for found in WORD.finditer(text):
        key = found[0].upper()
        if counts.get(key, 0) > 0:
            continue
        near = []
        for candidate in frequent:
            at = _one_letter_apart(key, candidate)
            if at is not None and candidate[at] in {c.upper() for c in seen[found.start() + at]}:
                near.append((counts[candidate], candidate, at))
        near.sort(reverse=True)
        if near and (len(near) == 1 or near[1][0] * DOMINANCE <= near[0][0]):
            _, candidate, at = near[0]
            letter = text[found.start() + at]
            new = candidate[at] if letter.isupper() else candidate[at].lower()
            changes[found.start() + at] = new
    return _with_characters(lattice, changes) if changes else lattice


def _with_characters(lattice: Lattice, changes: Mapping[int, str]) -> Lattice:
    """``lattice`` with the steps that emit the given characters of its reading made sure of
    the new ones."""
    out: list[Step] = []
    index, previous = -1, None
    for step in lattice:
        c = step[0][0]
        if c != BLANK and c != previous:
            index += 1
        if c != BLANK and index in changes:
            new = changes[index]
            if out and out[-1][0][0] == new and c != previous:
                out.append(((BLANK, 1.0),))  # or the two would read as one character
            step = ((new, 1.0),)
        out.append(step)
        previous = c
    return tuple(out)


def _one_letter_apart(a: str, b: str) -> int | None:
    """Where ``a`` and ``b`` differ, when they have one length and differ in one letter."""
    if len(a) != len(b):
        return None
    apart = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return apart[0] if len(apart) == 1 else None


def _written_like(word: str, model: str) -> str:
    """``word`` in the case ``model`` is written in: upper, capitalised or lower."""
    if model.isupper():
        return word.upper()
    return word.capitalize() if model[0].isupper() else word.lower()
