"""Known values: a label whose values recur is read as the nearest value seen in training.

A team's documents come from the same sellers again and again: on the dev receipts two thirds of
the training ``company`` values and 60% of the ``address`` values occur on more than one receipt.
The OCR misreads a character or two of a long name ("SHAN ALAM" for "SHAH ALAM"), and no shape
rule can restore it; the training values can. Whether a label is like that is learned from its
training texts, not told: its values must recur (``MIN_REPEAT_SHARE``), and distinct values
must rarely look alike (``MAX_CONFUSABLE_SHARE``), which rules out dates and amounts ("19.00"
is one character from "9.00"), whose values also recur less (29% on the same receipts).
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from docloop.ml.labels import comparable

MIN_EXAMPLES = 10
MIN_REPEAT_SHARE = 0.5  # of a label's training texts, those whose value occurs more than once
MIN_SIMILARITY = 0.8  # difflib ratio between a prediction and the value it is read as
# Of the known value's characters, at most this share may differ from the prediction's.
MAX_EDIT_SHARE = 0.15
MAX_CONFUSABLE_SHARE = 0.5  # of a label's distinct values, those with a look-alike neighbour
CONFUSABLE_SAMPLE = 300


@dataclass
class KnownValues:
    """Per label that qualifies: each distinct value (``comparable``) and its text as written."""

    values: dict[str, dict[str, str]] = field(default_factory=dict)

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
            written = Counter(items)  # the most frequent spelling of each value is kept
            model.values[label] = {}
            for text, _ in written.most_common():
                model.values[label].setdefault(comparable(text), text)
        return model

    def read(self, label: str, text: str) -> str:
        """``text`` as the known value it most resembles, or unchanged when none is close."""
        known = self.values.get(label)
        key = comparable(text)
        if not known or not key:
            return text
        if key in known:
            return known[key]
        close = difflib.get_close_matches(key, known, n=1, cutoff=MIN_SIMILARITY)
        if close and _edits(key, close[0]) <= max(1.0, MAX_EDIT_SHARE * len(close[0])):
            return known[close[0]]
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> KnownValues:
        """Models trained before known values existed read every text unchanged."""
        return cls(**(data or {}))


def _edits(a: str, b: str) -> int:
    """Characters changed, inserted or deleted to turn ``a`` into ``b`` (difflib's alignment).

    A similarity ratio of 0.8 lets a 70-character address differ in fourteen characters, and a
    seller never seen in training whose name ends like a known one ("HON HWA HARDWARE TRADING")
    was read as that one ("TSH POWER HARDWARE TRADING"). The engine misreads a character or two
    of a line (1.5% of characters on the dev receipts), so a reading that far off is a different
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
