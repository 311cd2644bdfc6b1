"""Annotation checks before training: labels a person probably got wrong, listed, never dropped.

Three signs of a slip, each reported with the file, page, label and why:
- a box whose text disagrees with the OCR under it (a typo, or a box over the wrong words);
- the same text labelled differently on near-duplicate pages (one of the two labels is wrong);
- a box far from the label's usual size (a box around the whole page, or a stray click).
Any of them may be right (the OCR misreads, a label's boxes vary), so they are warnings for a
person to look at, not exclusions.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

from docloop.domain import Box
from docloop.ml.data import LabelledPage
from docloop.ml.tokens import join_text

# Below this similarity (0-1, of the letters and digits) the annotated text and the OCR under
# its box disagree. OCR misreads a character or two of a field (O/0, I/1), which stays above it.
TEXT_AGREEMENT = 0.5
# A box whose area is this many times larger or smaller than the label's median area is unusual.
SIZE_FACTOR = 4.0
# A label needs this many boxes before its usual size means anything.
MIN_SIZE_EXAMPLES = 5


def normalized(text: str | None) -> str:
    """Letters and digits, upper case: what two readings of a field must share."""
    return "".join(c for c in (text or "").upper() if c.isalnum())


def run(pages: Sequence[LabelledPage], names: Mapping[str, str]) -> dict[str, list[Any]]:
    """The three checks over a dataset's OCR-ed pages; ``names`` maps a content hash to its
    file name (a page's ``key`` is ``hash:page``). Transcribed copies of pages are skipped: they
    repeat an engine-read page."""
    read = [p for p in pages if not p.transcribed]
    return {
        "text_disagrees_with_ocr": text_disagreements(read, names),
        "inconsistent_labels": inconsistent_labels(read, names),
        "unusual_box_sizes": unusual_box_sizes(read, names),
    }


def warnings(checks: Mapping[str, list[Any]]) -> list[str]:
    """One line per check that found something, for the report's warnings."""
    what = {
        "text_disagrees_with_ocr": "boxes whose text disagrees with the OCR under them",
        "inconsistent_labels": "texts labelled differently on near-duplicate pages",
        "unusual_box_sizes": "boxes far from their label's usual size",
    }
    return [
        f"{len(found)} {what[name]}: see annotation_checks"
        for name, found in checks.items()
        if found
    ]


def _where(page: LabelledPage, names: Mapping[str, str]) -> dict[str, Any]:
    blob, _, number = page.key.rpartition(":")
    return {"filename": names.get(blob, blob), "page": int(number or 0)}


def text_under(page: LabelledPage, box: Box) -> str:
    """The OCR words whose centres lie in the box, in reading order."""
    return join_text([w for w in page.words if box.contains_point(*w.box.center)])


def text_disagreements(
    pages: Sequence[LabelledPage], names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Boxed annotations with a text, whose text is less than ``TEXT_AGREEMENT`` similar to the
    OCR under the box (unreadable ``?`` texts are not compared)."""
    found = []
    for page in pages:
        for a in page.annotations:
            want = normalized(a.text)
            if a.box is None or not want:
                continue
            got = text_under(page, a.box)
            similarity = SequenceMatcher(None, want, normalized(got)).ratio()
            if similarity < TEXT_AGREEMENT:
                found.append(
                    {**_where(page, names), "label": a.label, "text": a.text, "ocr_text": got,
                     "similarity": round(similarity, 3)}
                )  # fmt: skip
    return found


def inconsistent_labels(
    pages: Sequence[LabelledPage], names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Texts given different labels on pages of one near-duplicate group (the same picture
    uploaded twice and labelled twice, differently)."""
    groups: dict[str, list[LabelledPage]] = defaultdict(list)
    for page in pages:
        if page.group:
            groups[page.group].append(page)
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        labels: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for page in members:
            for a in page.annotations:
                text = normalized(a.text)
                if text:
                    labels[text][a.label].append(_where(page, names))
        for text, by_label in sorted(labels.items()):
            if len(by_label) > 1:
                found.append({"text": text, "labels": {k: v for k, v in sorted(by_label.items())}})
    return found


def unusual_box_sizes(
    pages: Sequence[LabelledPage], names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Boxes whose share of the page area is over ``SIZE_FACTOR`` times the label's median
    share, or under its inverse (labels with fewer than ``MIN_SIZE_EXAMPLES`` boxes skipped)."""
    shares: dict[str, list[tuple[float, LabelledPage]]] = defaultdict(list)
    for page in pages:
        for a in page.annotations:
            if a.box is not None and page.width * page.height > 0:
                shares[a.label].append((a.box.area() / (page.width * page.height), page))
    found = []
    for label, seen in sorted(shares.items()):
        if len(seen) < MIN_SIZE_EXAMPLES:
            continue
        usual = statistics.median(s for s, _ in seen)
        for share, page in seen:
            ratio = share / usual if usual > 0 else 1.0
            if ratio > SIZE_FACTOR or ratio < 1 / SIZE_FACTOR:
                found.append(
                    {**_where(page, names), "label": label, "area_share": round(share, 5),
                     "usual_area_share": round(usual, 5), "times_usual": round(ratio, 2)}
                )  # fmt: skip
    return found
