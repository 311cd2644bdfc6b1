"""Synthetic pages for the field tagger: a training page's layout with new values on it.

A synthetic page is one of the model's training pages with its words where they were, as
large as they were, beside the same neighbours, and each annotated field's value replaced by a
new value of its own form (``TextSampler.like``). Other words holding a digit (amounts, phone
numbers, a car's other numbers) are drawn again in their form at ``vary``'s rate, and a word
that read the same as a field's word takes the field's new text, so a value printed twice
stays printed twice. The network then learns where a field sits and what its form is, not the
few values a small training set holds. Annotations get the new values, so the usual labelling
rule (``labels.assign``) tags the new words; the decoders never see these pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from difflib import SequenceMatcher

import numpy as np

from docloop.domain import Annotation
from docloop.ml.data import LabelledPage
from docloop.ml.labels import comparable, words_by_field
from docloop.ml.synthetic.text_sampler import TextSampler, redraw
from docloop.ml.tokens import reading_order

VARY_SHARE = 0.5  # of the words holding a digit outside any field, drawn again


def synthetic_page(
    page: LabelledPage,
    labels: Sequence[str],
    sampler: TextSampler,
    rng: np.random.Generator,
    vary: float = VARY_SHARE,
) -> LabelledPage:
    """``page`` with new field values (and other numbers) in its words and annotations."""
    position = {id(w): i for i, w in enumerate(page.words)}
    texts: dict[int, str] = {}  # word index -> its new text
    renamed: dict[str, str] = {}  # a field word's old text -> new, for its copies on the page
    annotations: list[Annotation] = []
    for ann, words in words_by_field(page.words, page.annotations, labels):
        value = sampler.like(ann.label, ann.text, rng) if ann.text and words else None
        if value is None or ann.text is None:
            annotations.append(ann)
            continue
        ordered = reading_order(words)
        rewritten = _rewrite([w.text for w in ordered], ann.text, value)
        for word, text in zip(ordered, rewritten, strict=True):
            texts[position[id(word)]] = text
            if any(c.isdigit() for c in word.text):
                renamed.setdefault(word.text, text)
        annotations.append(replace(ann, text=value))
    words = []
    for i, word in enumerate(page.words):
        text = texts.get(i) or renamed.get(word.text)
        if text is None and any(c.isdigit() for c in word.text) and rng.random() < vary:
            text = renamed[word.text] = redraw(word.text, rng)
        words.append(word if text in (None, word.text) else replace(word, text=text, lattice=None))
    return replace(page, words=words, annotations=annotations)


def _rewrite(words: list[str], old: str, new: str) -> list[str]:
    """A field's words reading ``old``, with each character that matches ``old`` in order (as
    training compares texts) replaced by the one at its place in ``new``; characters the engine
    added or misread stay. ``new`` must have ``old``'s form."""
    joined = "".join(words)
    upper = "".join(c.upper() if len(c.upper()) == 1 else c for c in joined)
    a, b = comparable(old), comparable(new)
    if len(a) != len(b):
        return words
    out = list(joined)
    for i, j, n in SequenceMatcher(None, upper, a, autojunk=False).get_matching_blocks():
        for k in range(n):
            out[i + k] = b[j + k].lower() if joined[i + k].islower() else b[j + k]
    parts, start = [], 0
    for w in words:
        parts.append("".join(out[start : start + len(w)]))
        start += len(w)
    return parts
