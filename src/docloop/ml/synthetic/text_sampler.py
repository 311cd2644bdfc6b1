"""New values of a label's learned text shapes: letters where it has letters, digits where it
has digits, every other character (separators, spaces) as it was.

A label's training texts are reduced to their forms (``textshape.shape`` with the case kept:
"MH 02 cb" -> "AA 99 aa"). A sample takes one of those forms, as often as distinct training
values took it, and fills each letter and digit from what the label's values hold at that
position of that form, or, as often as the form is rare, from all the label's letters or digits.
A sample that equals a training value (compared as training compares texts) is drawn again, so
the values are new values of the same forms, never copies.

A value drawn like a given text (``like``) keeps the text's words of letters that recur in the
label's values ("SDN BHD" of company names, "JALAN" of addresses, "DEC" of dates): they are
as much the label's form as its digits' places are, and a network reading them learns them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from docloop.ml.labels import comparable

# Draws before giving up on a new value (a form with one digit has only ten values).
MAX_DRAWS = 20
RECURRING = 2  # distinct values a word of letters is in to be kept by ``like``
WORD = re.compile(r"\S+")
Pool = tuple[list[str], np.ndarray]  # characters, their cumulative shares


def form(text: str) -> str:
    """``textshape.shape`` keeping the case: "Jalan 5" -> "Aaaaa 9"."""
    return "".join(
        ("A" if c.isupper() else "a")
        if c.isalpha()
        else "9"
        if c.isdigit()
        else c
        for c in text
    )  # fmt: skip


@dataclass
class TextSampler:
    """Per label: its forms with how many distinct values took each, the characters each
    position of a form held, its letters and digits, and its values (never sampled)."""

    forms: dict[str, Counter[str]] = field(default_factory=dict)
    positions: dict[str, dict[str, list[Counter[str]]]] = field(default_factory=dict)
    letters: dict[str, Counter[str]] = field(default_factory=dict)
    digits: dict[str, Counter[str]] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    words: dict[str, Counter[str]] = field(default_factory=dict)
    # Each pool a draw reads, built on first use: a training draws thousands of characters.
    _pools: dict[tuple[str, str, int], Pool] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def fit(cls, examples: Iterable[tuple[str, str]]) -> TextSampler:
        """Learn from (label, text) pairs; texts without a letter or digit are left out."""
        sampler = cls()
        for label, text in examples:
            key = comparable(text)
            if not any(c.isalnum() for c in text) or key in sampler.seen.get(label, set()):
                continue
            sampler.seen.setdefault(label, set()).add(key)
            shape = form(text)
            sampler.forms.setdefault(label, Counter())[shape] += 1
            slots = sampler.positions.setdefault(label, {}).setdefault(
                shape, [Counter() for _ in shape]
            )
            for slot, c in zip(slots, text, strict=True):
                if c.isalnum():
                    slot[c.upper()] += 1
            sampler.letters.setdefault(label, Counter()).update(
                c.upper() for c in text if c.isalpha()
            )
            sampler.digits.setdefault(label, Counter()).update(c for c in text if c.isdigit())
            sampler.words.setdefault(label, Counter()).update({_word(w) for w in text.split()})
        return sampler

    def labels(self) -> list[str]:
        return sorted(self.forms)

    def sample(self, label: str, rng: np.random.Generator) -> str | None:
        """A new value of one of ``label``'s forms; None for a label without any, or when
        ``MAX_DRAWS`` draws gave only training values."""
        forms = self.forms.get(label)
        if not forms:
            return None
        names = list(forms)
        weights = np.array([forms[f] for f in names], dtype=float)
        for _ in range(MAX_DRAWS):
            shape = names[int(rng.choice(len(names), p=weights / weights.sum()))]
            text = self._fill(label, shape, rng)
            if comparable(text) not in self.seen[label]:
                return text
        return None

    def like(self, label: str, text: str, rng: np.random.Generator) -> str | None:
        """A new value of ``text``'s own form: each letter and digit drawn again, but for the
        label's recurring words; everything else kept. None when ``MAX_DRAWS`` draws gave only
        training values or ``text``."""
        shape = form(text)
        if not any(c in "Aa9" for c in shape):
            return None
        kept = [
            m.span()
            for m in WORD.finditer(text)
            if _word(m[0]).isalpha() and self.words.get(label, Counter())[_word(m[0])] >= RECURRING
        ]
        for _ in range(MAX_DRAWS):
            new = list(self._fill(label, shape, rng))
            for start, end in kept:
                new[start:end] = text[start:end]
            key = comparable("".join(new))
            if key != comparable(text) and key not in self.seen.get(label, set()):
                return "".join(new)
        return None

    def _fill(self, label: str, shape: str, rng: np.random.Generator) -> str:
        """``shape`` with each letter and digit drawn: from the characters values of this form
        held at that position with the share of the form's values, else from the label's."""
        slots = self.positions.get(label, {}).get(shape)
        count = self.forms.get(label, Counter()).get(shape, 0)
        local = count / (count + 1)
        out = []
        for i, c in enumerate(shape):
            if c not in "Aa9":
                out.append(c)
                continue
            if slots is not None and rng.random() < local:
                chars, cdf = self._slot_pool(label, shape, i, slots[i])
            else:
                chars, cdf = self._label_pool(label, c == "9")
            drawn = chars[int(cdf.searchsorted(rng.random(), side="right"))]
            out.append(drawn.lower() if c == "a" else drawn)
        return "".join(out)

    def _label_pool(self, label: str, digit: bool) -> Pool:
        """The label's digits or letters (all of them where it has none), as a ``Pool``."""
        key = (label, "", -1 if digit else -2)  # no form, no position: never a slot's key
        if key not in self._pools:
            pool = self.digits.get(label) if digit else self.letters.get(label)
            if not pool:
                pool = Counter(string.digits if digit else string.ascii_uppercase)
            self._pools[key] = _pool(pool)
        return self._pools[key]

    def _slot_pool(self, label: str, shape: str, i: int, slot: Counter[str]) -> Pool:
        """The characters of the kind ``shape`` has at ``i`` that values of that form held
        there, as a ``Pool``."""
        key = (label, shape, i)
        if key not in self._pools:
            digit = shape[i] == "9"
            kind = Counter({k: n for k, n in slot.items() if k.isdigit() == digit})
            self._pools[key] = _pool(kind)
        return self._pools[key]


def redraw(text: str, rng: np.random.Generator) -> str:
    """``text`` with each letter and digit drawn again from all letters or digits, case kept:
    for words of no label, whose values teach nothing."""
    return _ANY._fill("", form(text), rng)


def _word(text: str) -> str:
    """A word as values are compared word by word: its letters and digits, upper case."""
    return "".join(c for c in text.upper() if c.isalnum())


def _pool(counts: Counter[str]) -> Pool:
    """``counts`` as characters and their cumulative shares: a character is drawn by finding
    one uniform number in the shares, the same draw (and the same one number taken from the
    generator) as ``rng.choice`` with the shares as ``p``, without building them every time."""
    chars = list(counts)
    weights = np.array([counts[c] for c in chars], dtype=float)
    cdf = (weights / weights.sum()).cumsum()
    cdf /= cdf[-1]
    return chars, cdf


_ANY = TextSampler()  # no label's values: ``redraw``'s pools, kept between calls
