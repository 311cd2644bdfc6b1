"""How training leaves padding out of the field tagger's passes: which pages of a batch run
together, over how many positions each word is convolved, and which words are distinct.

Each choice changes only the arithmetic, never the values (``FieldTagger`` says why): a cut
costs a pass of its own, so each is taken where the work it saves outweighs that pass, by the
costs below. They were measured on one 2-core machine (one PyTorch thread); another machine
may have other best cuts, never other results.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch

# The tagger's blocks over a group of pages: a group's fixed cost (its pass's many small
# operations) in words of arithmetic, and the length at which a word's pairwise terms cost as
# much as its own.
GROUP_COST_WORDS = 60
PAIR_COST_LENGTH = 100
# The character CNN, forward and backward, in positions of one word's convolutions (about
# 5 microseconds each): a pass's fixed cost, and each word's own beside its positions. The
# layers alone cost about 180 positions a pass, and a pass adds bookkeeping to the step:
# counted as 400, plates batches (a few words a page) mostly run whole, and took 1.02-1.03
# times the padded passes' time against 1.04 counted as 180 (receipts: 0.74-0.77 either way).
PASS_COST_POSITIONS = 400
WORD_COST_POSITIONS = 4


def cheapest_runs(
    widths: Sequence[int], counts: Sequence[int], cost: Callable[[int, int], float]
) -> tuple[float, list[int]]:
    """Ascending ``widths``, ``counts[i]`` items of each, split into runs each padded to its
    last width, at the least total ``cost(items, width)`` of its runs: that cost and the runs'
    end indices (exclusive), in order."""
    before = [0]
    for count in counts:
        before.append(before[-1] + count)
    best = [0.0] + [math.inf] * len(widths)
    start = [0] * (len(widths) + 1)
    for end in range(1, len(widths) + 1):
        for first in range(end):
            total = best[first] + cost(before[end] - before[first], widths[end - 1])
            if total < best[end]:
                best[end], start[end] = total, first
    ends = []
    end = len(widths)
    while end > 0:
        ends.append(end)
        end = start[end]
    return best[-1], ends[::-1]


def length_groups(lengths: Sequence[int]) -> list[tuple[list[int], int]]:
    """The rows of a batch (``lengths``: each page's words) in groups of like length, each with
    its longest length, at the least cost: ``GROUP_COST_WORDS`` a group plus, for each row, the
    group's length and that length's pairwise share (``PAIR_COST_LENGTH``)."""
    sizes = [max(n, 1) for n in lengths]
    counts = Counter(sizes)
    widths = sorted(counts)

    def cost(rows: int, width: int) -> float:
        return GROUP_COST_WORDS + rows * width * (1 + width / PAIR_COST_LENGTH)

    _, ends = cheapest_runs(widths, [counts[w] for w in widths], cost)
    groups, low = [], 0
    for end in ends:
        high = widths[end - 1]
        groups.append(([i for i, n in enumerate(sizes) if low < n <= high], high))
        low = high
    return groups


def convolution_widths(needs: Sequence[int], full: int) -> list[int]:
    """The widths to convolve words over, ascending, given the positions each word needs
    (``needs``, at most ``full``): each word runs over the first that holds its need. Only
    ``[full]`` where cutting saves less than its passes cost, the pass that computes what lies
    beyond a cut word included."""
    if not needs:
        return [full]
    counts = Counter(needs)
    widths = sorted(counts)

    def cost(words: int, width: int) -> float:
        return PASS_COST_POSITIONS + words * (WORD_COST_POSITIONS + width)

    whole = cost(len(needs), full)
    cut, ends = cheapest_runs(widths, [counts[w] for w in widths], cost)
    cut_widths = [widths[end - 1] for end in ends]
    if cut_widths[0] < full:
        cut += PASS_COST_POSITIONS  # what lies beyond each cut word
    return cut_widths if cut < whole else [full]


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(rows, dim=0, return_inverse=True)`` for character ids: the distinct rows
    in ascending order and each row's index among them. On the CPU numpy sorts the rows as
    bytes, about ten times faster than ``torch.unique``'s row comparisons."""
    if rows.device.type != "cpu" or rows.shape[0] == 0:
        return torch.unique(rows, dim=0, return_inverse=True)
    ids = np.ascontiguousarray(rows.numpy().astype(np.uint8))  # ids < VOCAB_SIZE <= 256
    keys = ids.view(np.dtype((np.void, ids.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[torch.from_numpy(first)], torch.from_numpy(inverse.reshape(-1))
