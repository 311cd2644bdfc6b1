"""Which OCR words belong to which annotated field: the supervision the field model learns from.

A word belongs to a field when it lies inside the field's box and, when the field's text is
known, its characters are mostly found in that text in order, or it holds that text whole. That
keeps "DATE:" out of a date field whose box covers the whole printed line, without any rule that
knows about dates, and keeps in the word the engine glued to its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence

from docloop.domain import Annotation, OcrToken

MIN_MATCH = 0.6
MIN_HELD = 0.9  # of a field's characters, in order, for a word to hold the field whole


def comparable(text: str) -> str:
    """A field's text as training compares it: upper case, whitespace dropped."""
    return "".join(text.upper().split())


def in_order_match(token: str, target: str) -> float:
    """Share of ``token``'s characters found in ``target`` as a common subsequence."""
    a, b = comparable(token), comparable(target)
    if not a:
        return 0.0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ca == cb else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1] / len(a)


def _match(word: str, text: str) -> float:
    """How surely ``word`` is (part of) a field reading ``text``.

    A word the engine glued to its neighbours (":19-03-201818:08:38" for the date "19-03-2018")
    is mostly other characters, yet it is the only word that holds the value. Left unassigned,
    it taught the network that such words are never dates, and six val receipts got no date;
    assigned, text correction cuts the value out of it.
    """
    part = in_order_match(word, text)
    if part < MIN_MATCH and in_order_match(text, word) >= MIN_HELD:
        return MIN_MATCH
    return part


def _inside(token: OcrToken, ann: Annotation) -> float:
    assert ann.box is not None
    area = token.box.area()
    if area <= 0:
        return 1.0 if ann.box.contains_point(*token.box.center) else 0.0
    return token.box.intersection(ann.box) / area


def assign(
    tokens: Sequence[OcrToken], annotations: Sequence[Annotation], labels: Sequence[str]
) -> tuple[list[int], list[int]]:
    """Per token: class index (0 = no field, i + 1 = labels[i]) and annotation index (-1 none)."""
    classes = [0] * len(tokens)
    owner = [-1] * len(tokens)
    best = [0.0] * len(tokens)
    index = {name: i + 1 for i, name in enumerate(labels)}
    for a_idx, ann in enumerate(annotations):
        if ann.box is None or ann.label not in index:
            continue
        for t_idx, tok in enumerate(tokens):
            overlap = _inside(tok, ann)
            if overlap < 0.5:
                continue
            match = _match(tok.text, ann.text) if ann.text else 1.0
            if match < MIN_MATCH:
                continue
            score = overlap + match
            if score > best[t_idx]:
                best[t_idx] = score
                classes[t_idx] = index[ann.label]
                owner[t_idx] = a_idx
    return classes, owner


def words_by_field(
    tokens: Sequence[OcrToken], annotations: Sequence[Annotation], labels: Sequence[str]
) -> list[tuple[Annotation, list[OcrToken]]]:
    """Each annotation with the words ``assign`` gave it (an empty list when none)."""
    _, owner = assign(tokens, annotations, labels)
    return [
        (ann, [t for t, o in zip(tokens, owner, strict=True) if o == a_idx])
        for a_idx, ann in enumerate(annotations)
    ]
