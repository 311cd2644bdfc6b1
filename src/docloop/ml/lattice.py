"""What the recognizer considered at each step of a line, kept so a field can be read again.

The engine keeps only its best character per time step (CTC greedy decoding). Where it hesitated
(MH or MK on a plate, 0530 or 0550) the runner-up is often right, and a label's training texts know
which. A lattice keeps, per step, the few characters with any real probability: steps where the
engine was sure hold one entry, runs of sure blanks are folded into one blank step (a blank must
stay between two equal characters, or they would merge).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from docloop.domain import Lattice, Step

BLANK = ""
SURE = 0.98  # a step whose best entry has this probability keeps only it
KEEP = 0.01  # other entries below this probability are dropped
TOP = 4
SEPARATOR: Step = ((" ", 1.0),)


def compact(probs: np.ndarray, characters: Sequence[str]) -> Lattice:
    """A line's lattice from the recognizer's (steps, classes) probabilities; class 0 is blank
    and ``characters[i - 1]`` is class i."""
    steps: list[Step] = []
    order = np.argsort(-probs, axis=1)[:, :TOP]
    for t in range(probs.shape[0]):
        best = int(order[t, 0])
        if probs[t, best] >= SURE:
            step: Step = ((_char(best, characters), 1.0),)
            if step == ((BLANK, 1.0),) and steps and steps[-1] == step:
                continue
        else:
            step = tuple(
                (_char(int(k), characters), round(float(probs[t, k]), 4))
                for k in order[t]
                if k == best or probs[t, k] >= KEEP
            )
        steps.append(step)
    return tuple(steps)


def _char(k: int, characters: Sequence[str]) -> str:
    return BLANK if k == 0 else characters[k - 1]


def greedy(lattice: Lattice) -> str:
    """The engine's own reading: the best entry per step, repeats merged, blanks dropped."""
    out: list[str] = []
    previous = None
    for step in lattice:
        c = step[0][0]
        if c != previous and c != BLANK:
            out.append(c)
        previous = c
    return "".join(out)


def alternatives(lattice: Lattice) -> list[set[str]]:
    """Per character of ``greedy(lattice)``, every character the steps that emitted it held."""
    out: list[set[str]] = []
    previous = None
    for step in lattice:
        c = step[0][0]
        held = {entry for entry, _ in step if entry != BLANK}
        if c != BLANK and c != previous:
            out.append(held)
        elif c != BLANK:
            out[-1] |= held
        previous = c
    return out


def split_at_spaces(lattice: Lattice) -> list[Lattice]:
    """One lattice per word, cut where the best path emits whitespace (as ``split_words`` cuts
    the text); the whitespace steps belong to no word."""
    words: list[Lattice] = []
    current: list[Step] = []
    for step in lattice:
        if step[0][0].isspace():
            if current:
                words.append(tuple(current))
            current = []
        else:
            current.append(step)
    if current:
        words.append(tuple(current))
    return [w for w in words if greedy(w)]


def join(lattices: Sequence[Lattice]) -> Lattice:
    """Words read as one text, separated by a sure space (as ``join_text`` joins them)."""
    steps: list[Step] = []
    for i, lattice in enumerate(lattices):
        if i:
            steps.append(SEPARATOR)
        steps.extend(lattice)
    return tuple(steps)
