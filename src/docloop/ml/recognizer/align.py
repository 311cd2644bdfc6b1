"""Which part of a field's annotated text each of its text lines shows.

A field is annotated with one text, but the recognizer reads one line at a time (a two-row plate,
an address). The engine's readings of the lines say where the text splits: the split that makes
each line's piece closest to its reading, by edit distance, over every way of cutting the text
into consecutive pieces (a line may get no piece: a sticker inside a plate's box). A line whose
piece still differs from its reading in more than ``MAX_DISTANCE`` of its characters is not
trusted as a training line: the engine may have missed a row and its text gone to a neighbour.
Nor is a line that shows more than its piece (a currency before a total, ``Date:`` or a time
beside a date, a registration number after a company): trained to read ``RM 33.90`` as
``33.90``, the recognizer learns to leave out characters it sees, and on held-out receipts it
then read ``06-05-2018`` as ``06-2018``. The field's decoders, not the recognizer, cut a field
out of its line.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_DISTANCE = 0.5  # edit distance per character of the longer of piece and reading
# Characters a line's reading may hold beyond its piece (case and spaces aside), as a share of
# the piece, at least one: a misread stray mark, not a word.
MAX_EXTRA = 0.1
SLACK = 6  # characters a split point may stray from where the readings' lengths put it


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def split_text(text: str, readings: Sequence[str]) -> list[str | None]:
    """Per line (in reading order), its piece of ``text``, or None where it has no trustworthy
    one. Pieces are stripped of surrounding whitespace; compared case-sensitively, since the
    recognizer must learn the annotated case."""
    n, size = len(readings), len(text)
    if n == 0:
        return []
    # best[i][k]: least cost of giving text[:k] to the first i lines; back[i][k]: where line i
    # starts.
    inf = float("inf")
    best = [[inf] * (size + 1) for _ in range(n + 1)]
    back = [[0] * (size + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    expected = 0
    for i, reading in enumerate(readings, 1):
        expected += len(reading)
        ends = [size] if i == n else _near(expected, size)
        for k in ends:
            for j in range(k + 1):
                if best[i - 1][j] == inf:
                    continue
                cost = best[i - 1][j] + edit_distance(text[j:k].strip(), reading.strip())
                if cost < best[i][k]:
                    best[i][k], back[i][k] = cost, j
    pieces: list[str | None] = []
    k = size
    for i in range(n, 0, -1):
        j = back[i][k]
        pieces.append(_trusted(text[j:k].strip(), readings[i - 1].strip()))
        k = j
    return pieces[::-1]


def _near(expected: int, size: int) -> range:
    return range(max(0, expected - SLACK), min(size, expected + SLACK) + 1)


def _trusted(piece: str, reading: str) -> str | None:
    if not piece:
        return None
    if edit_distance(piece, reading) > MAX_DISTANCE * max(len(piece), len(reading)):
        return None
    shown, wanted = _bare(reading), _bare(piece)
    if len(shown) - len(wanted) > max(1, MAX_EXTRA * len(wanted)):
        return None
    return piece


def _bare(text: str) -> str:
    return "".join(text.split()).casefold()
