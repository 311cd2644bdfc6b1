"""One sum printed twice, as added up and as rounded: which of the two a label's values are.

A receipt states its total both as the items add up (112.46) and rounded to what can be paid in
coins (112.45). The network sees both lines and can be nearly as sure of either. Which one the
user annotates shows in the last digits of the label's values: where most of them end in a few
digits, the candidate ending in one of those is the label's reading of the sum, and its twin is
not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from docloop.domain import FieldPrediction
from docloop.ml.features import amount_value

# A label's values are amounts when at least this share of its annotated texts read as one,
# and its endings are only counted from this many amounts.
AMOUNT_SHARE = 0.9
MIN_AMOUNTS = 10
# Two amounts closer than ten of their last place (0.10 for cents) are one sum, one of them
# rounded: rounding to a twentieth or a tenth moves an amount by at most half that. Two
# different sums on one page are rarely that close; the cash paid can be, and where it ends
# like the label's values it is taken for the rounded total (a risk the folds measure).
TWIN_SPAN = 0.1
# A twin takes the reading where the label's values end with its last digit at least this many
# times as often as with the reading's, both counts taken one higher (against a digit no value
# ended with, four values ending like the twin are enough).
ENDING_RATIO = 5


def amount_endings(texts: Sequence[str]) -> dict[str, int]:
    """How many of a label's annotated values end with each digit, where the label's values
    are amounts (``AMOUNT_SHARE``, ``MIN_AMOUNTS``); empty otherwise."""
    amounts = [a for a in (amount_value(t.strip()) for t in texts) if a is not None]
    if len(amounts) < MIN_AMOUNTS or len(amounts) < AMOUNT_SHARE * len(texts):
        return {}
    counts: dict[str, int] = {}
    for amount in amounts:
        digit = _last_digit(amount)
        counts[digit] = counts.get(digit, 0) + 1
    return dict(sorted(counts.items()))


def prefer_usual_ending(
    ranked: Sequence[tuple[FieldPrediction, bool]], endings: dict[str, int] | None
) -> list[tuple[FieldPrediction, bool]]:
    """A label's candidates on a page, best first, each with whether the network tagged its
    words with the label; the best one's twin (the same sum, an amount within ``TWIN_SPAN``)
    put in its place and given its score, where the label's values end with the twin's last
    digit ``ENDING_RATIO`` times as often. The reading it displaces takes the twin's place and
    score, no longer as tagged: it is the same sum, not a second instance of the label.
    ``endings``: the label's ``amount_endings`` (none: the order is kept)."""
    out = list(ranked)
    if not endings or len(out) < 2:
        return out
    best = amount_value(out[0][0].text.strip())
    if best is None:
        return out

    def usual(amount: float) -> int:
        return endings.get(_last_digit(amount), 0) + 1

    twins = [
        (usual(amount), j)
        for j, (p, _) in enumerate(out[1:], start=1)
        if (amount := amount_value(p.text.strip())) is not None
        and 0 < abs(amount - best) < TWIN_SPAN - 1e-9
    ]
    if not twins:
        return out
    count, j = max(twins, key=lambda pair: (pair[0], -pair[1]))
    if count < ENDING_RATIO * usual(best):
        return out
    (top, _), (twin, twin_tagged) = out[0], out[j]
    out[0] = (replace(twin, score=top.score), twin_tagged)
    out[j] = (replace(top, score=twin.score), False)
    return out


def _last_digit(amount: float) -> str:
    """The last digit of an amount written with two decimals."""
    return f"{amount:.2f}"[-1]
