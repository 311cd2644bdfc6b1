"""How likely a shape a label's values rarely or never took is, from the shapes they took.

A label's values take formats ("AA99AA9999": letters as A, digits as 9), and a value of a format
seen once or twice is no proof of it. Read as a chain of character classes, a shape is likely
where each class follows the two before it as the label's values have them follow: a plate of a
rare format ("GJ1KF1111") is made of the same steps as the common ones (letters first, digits
last), while the bottom row of a two-row plate read alone ("1111") starts where no value
starts. ``ShapeChain`` is that second-order Markov chain over a label's distinct shapes, with
boundary marks, add-``SMOOTHING`` smoothed over the classes the label writes. A shape it finds
likely must also be as likely per step as the formats the label's values take often enough to
count, so a brand name glued to a plate's digits ("AAAAA9999") is not one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

START, END = "^", "$"
# Added to every count of a step: a step the values never took is unlikely, not impossible,
# so a long shape of likely steps can still outweigh one unseen step.
SMOOTHING = 0.5


@dataclass(frozen=True)
class ShapeChain:
    """Counts of each class after each two, over a label's distinct values' shapes."""

    steps: dict[tuple[str, str], Counter[str]]
    classes: frozenset[str]
    floor: float  # the least mean log-probability per step a likely shape has

    @classmethod
    def fit(cls, shapes: Mapping[str, int], counted: int) -> ShapeChain:
        """The chain of ``shapes`` (shape -> number of distinct values of it); its floor is the
        mean log-probability per step of the least likely shape at least ``counted`` values
        take (none passes where no shape is that common)."""
        steps: dict[tuple[str, str], Counter[str]] = {}
        for text, n in shapes.items():
            for context, step in _steps(text):
                steps.setdefault(context, Counter())[step] += n
        classes = frozenset(c for text in shapes for c in text) | {END}
        chain = cls(steps, classes, math.inf)
        formats = [chain.mean_log_prob(text) for text, n in shapes.items() if n >= counted]
        return cls(steps, classes, min(formats, default=math.inf))

    def log_prob(self, text: str) -> float:
        """The log-probability of the shape ``text``, its end included."""
        total = 0.0
        for context, step in _steps(text):
            counts = self.steps.get(context, Counter())
            seen = counts[step] + SMOOTHING
            total += math.log(seen / (sum(counts.values()) + SMOOTHING * len(self.classes)))
        return total

    def mean_log_prob(self, text: str) -> float:
        """The log-probability per step (each class and the end): comparable across lengths."""
        return self.log_prob(text) / (len(text) + 1)

    def likelier(self, wider: str, text: str) -> bool:
        """Whether the shape ``wider`` is likelier than ``text`` and as likely per step as a
        format the label's values take."""
        return (
            self.log_prob(wider) > self.log_prob(text) and self.mean_log_prob(wider) >= self.floor
        )


def _steps(text: str) -> list[tuple[tuple[str, str], str]]:
    """Each class of ``text``, and the end, with the two before it."""
    marked = [START, START, *text, END]
    return [((marked[i - 2], marked[i - 1]), marked[i]) for i in range(2, len(marked))]
