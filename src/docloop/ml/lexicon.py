"""The words a label's texts are made of, to mend a word the engine misread by one letter.

Addresses are written with a small vocabulary (JALAN, TAMAN, SELANGOR, ...), and the engine
misreads a letter of such a word ("SCLANGOR", "JAIAN", "TANAN"). A word the label's training
texts never hold, one letter away from a word they hold often, is likely that word, but only
where the engine itself saw that letter as a possibility at that place (its lattice): on
receipt addresses, mending that the lattice supported was right 15 times and
wrong once, while mending it did not support was wrong 6 times in 7 ("GAYA" is no misread
"JAYA"). Whether a label is mended is learned with its character model (``reread.py``).

The same words tell a field's lines from its neighbours' (a store's name above an address, a
web address under it), for labels whose training pages show they do (``line_vocabularies``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence

from docloop.domain import Lattice, OcrToken, Step
from docloop.ml.boxes import line_boxes
from docloop.ml.data import LabelledPage
from docloop.ml.labels import words_by_field
from docloop.ml.lattice import BLANK, alternatives, greedy

WORD = re.compile(r"[A-Za-z]{3,}")
MIN_COUNT = 5  # training texts' uses of a word, for a misreading to be mended to it
DOMINANCE = 2.0  # the chosen word is used this many times as often as the next candidate
# How much likelier a line beside a field than the field's own edge line is to hold none of
# the label's words, for those words to tell them apart.
FOREIGN_RATIO = 10.0
GLUED_MIN = 6  # letters of a known word found glued inside a longer one ("RAYA" is in too many)
# How much more often a word ends a field's bottom line than a line the field goes on past, for
# it to close the label's values.
CLOSING_RATIO = 10.0


def word_counts(texts: Sequence[str]) -> Counter[str]:
    """How many times each word (upper case) occurs in ``texts``."""
    return Counter(w.upper() for t in texts for w in WORD.findall(t))


def mend(lattice: Lattice, counts: Mapping[str, int]) -> Lattice:
    """``lattice`` with each word the counts never saw made sure of the frequent word one
    letter away, where the lattice held that letter as an alternative."""
    text = greedy(lattice)
    seen = [{c.upper() for c in held} for held in alternatives(lattice)]
    frequent = [w for w, n in counts.items() if n >= MIN_COUNT]
    changes: dict[int, str] = {}  # character index in ``text`` -> its new character
    for found in WORD.finditer(text):
        key = found[0].upper()
        if counts.get(key, 0) > 0:
            continue
        near = []
        for candidate in frequent:
            at = one_letter_apart(key, candidate)
            if at is not None and candidate[at] in seen[found.start() + at]:
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
    steps: list[tuple[Step, bool]] = []  # each step, and whether it was changed
    index, previous = -1, None
    for step in lattice:
        c = step[0][0]
        if c != BLANK and c != previous:
            index += 1
        changed = c != BLANK and index in changes
        steps.append((((changes[index], 1.0),) if changed else step, changed))
        previous = c
    out: list[Step] = []
    for j, (step, changed) in enumerate(steps):
        if j and step[0][0] != BLANK and step[0][0] == out[-1][0][0] and changed != steps[j - 1][1]:
            out.append(((BLANK, 1.0),))  # or a new character and its equal neighbour read as one
        out.append(step)
    return tuple(out)


def one_letter_apart(a: str, b: str) -> int | None:
    """Where ``a`` and ``b`` differ, when they have one length and differ in one letter."""
    if len(a) != len(b):
        return None
    apart = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return apart[0] if len(apart) == 1 else None


def line_vocabularies(pages: Sequence[LabelledPage], labels: Sequence[str]) -> dict[str, list[str]]:
    """The words of each label whose lines are told apart by them: a field's first or last line
    seldom holds none of the words the label's other training texts use, while a line just
    above or below a field mostly does (``FOREIGN_RATIO`` times as often or more).

    On receipt addresses, 7 of 790 edge lines held no word of the other
    addresses, against 549 of the 625 lines next to them ("TEL: ...", a shop's web address, a
    store's name); company names are their own words (11 of 77 against 155 of 318) and are not
    told apart this way."""
    texts: dict[str, list[str]] = defaultdict(list)
    for page in pages:
        for ann in page.annotations:
            if ann.text:
                texts[ann.label].append(ann.text)
    counts = {label: word_counts(items) for label, items in texts.items()}
    own: dict[str, list[bool]] = defaultdict(list)  # an edge line holds none of the words
    next_to: dict[str, list[bool]] = defaultdict(list)
    for page in pages:
        boxes = line_boxes(page.words)
        order = sorted(boxes, key=lambda n: boxes[n].ymin)
        position = {n: k for k, n in enumerate(order)}
        text_of = {n: " ".join(w.text for w in page.words if w.line == n) for n in order}
        for ann, words in words_by_field(page.words, page.annotations, labels):
            if not words or not ann.text:
                continue
            others = counts[ann.label] - word_counts([ann.text])
            lines = sorted({position[w.line] for w in words})
            edges = [lines[0], lines[-1]] if len(lines) > 1 else []
            beside = [k for k in (lines[0] - 1, lines[-1] + 1) if 0 <= k < len(order)]
            known = {w for w, n in others.items() if n > 0}
            for kept, where in ((own, edges), (next_to, beside)):
                for k in where:
                    if word_counts([text_of[order[k]]]):
                        kept[ann.label].append(foreign(text_of[order[k]], known))
    out = {}
    for label in labels:
        if len(own[label]) < MIN_COUNT or len(next_to[label]) < MIN_COUNT:
            continue
        own_rate = (sum(own[label]) + 1) / (len(own[label]) + 2)
        next_rate = (sum(next_to[label]) + 1) / (len(next_to[label]) + 2)
        if next_rate >= FOREIGN_RATIO * own_rate:
            out[label] = sorted(counts[label])
    return out


def closing_words(pages: Sequence[LabelledPage], labels: Sequence[str]) -> dict[str, list[str]]:
    """The words that close each label's values: the last word of a training field's bottom
    line ``CLOSING_RATIO`` times as often as the last word of a line the field goes on past,
    that count taken one higher (so a word never seen going on must have closed that many
    fields). On receipt companies "BHD" of "... SDN BHD" ends the name; a field read past such
    a line has taken the line printed under the name (a branch, a mall), and decoding cuts it
    there (``decode._trim_after_closing``)."""
    ends: dict[str, Counter[str]] = defaultdict(Counter)
    goes_on: dict[str, Counter[str]] = defaultdict(Counter)
    for page in pages:
        boxes = line_boxes(page.words)
        for ann, words in words_by_field(page.words, page.annotations, labels):
            rows = sorted({w.line for w in words}, key=lambda n: boxes[n].ymin)
            for k, n in enumerate(rows):
                word = last_word([w for w in words if w.line == n])
                if word:
                    (ends if k == len(rows) - 1 else goes_on)[ann.label][word] += 1
    out = {}
    for label in labels:
        closing = [
            w for w, n in ends[label].items() if n >= CLOSING_RATIO * (goes_on[label][w] + 1)
        ]
        if closing:
            out[label] = sorted(closing)
    return out


def last_word(words: Sequence[OcrToken]) -> str:
    """The last word (upper case) of one line's ``words`` read left to right; "" where they
    hold none."""
    found = WORD.findall(" ".join(w.text for w in sorted(words, key=lambda w: w.box.xmin)))
    return found[-1].upper() if found else ""


def foreign(line: str, vocabulary: Collection[str]) -> bool:
    """Whether ``line`` has words and none of them is in ``vocabulary``, even glued to its
    neighbours ("43200CherasSelangor" holds CHERAS and SELANGOR)."""
    found = word_counts([line])
    if not found:
        return False
    letters = "".join(found)
    return not any(w in found or (len(w) >= GLUED_MIN and w in letters) for w in vocabulary)
