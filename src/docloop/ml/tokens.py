"""OCR lines -> word tokens, and word tokens -> reading order.

The engine reads whole lines, but a field is often part of a line ("DATE: 25/12/2018"), so the
model works on words. Word boxes are estimated from the character positions within the line.
"""

from __future__ import annotations

from collections.abc import Sequence

from docloop.domain import Box, Lattice, OcrToken, Point, Quad
from docloop.ml.boxes import line_boxes
from docloop.ml.lattice import greedy, split_at_spaces

SAME_ROW = 0.5  # share of the shorter line's height two lines side by side have in common


def dedupe_lines(lines: Sequence[OcrToken]) -> list[OcrToken]:
    """Drop lines the engine read twice: a box mostly covering a better-scored line's box."""
    kept: list[OcrToken] = []
    for line in sorted(lines, key=lambda t: -t.score):
        if all(line.box.iou(k.box) <= 0.5 for k in kept):
            kept.append(line)
    return sorted(kept, key=lambda t: t.line)


def split_words(lines: Sequence[OcrToken]) -> list[OcrToken]:
    """Split each line at whitespace; each word keeps its line number and its part of the
    line's lattice."""
    words: list[OcrToken] = []
    for line_no, line in enumerate(dedupe_lines(lines)):
        text = line.text
        n = len(text)
        if n == 0:
            continue
        lattices = iter(_word_lattices(line))
        char_w = line.box.width / n
        start = None
        for i, ch in enumerate(text + " "):
            if not ch.isspace() and start is None:
                start = i
            elif ch.isspace() and start is not None:
                box = Box(
                    line.box.xmin + start * char_w,
                    line.box.ymin,
                    line.box.xmin + i * char_w,
                    line.box.ymax,
                )
                quad = None if line.quad is None else part_of(line.quad, start / n, i / n)
                words.append(
                    OcrToken(text[start:i], box, line.score, line_no, next(lattices), quad)
                )
                start = None
    return words


def part_of(quad: Quad, start: float, end: float) -> Quad:
    """The part of a line's quadrilateral from ``start`` to ``end`` of the way along it (0 to
    1), cut along its top and bottom edges as a word's share of the line's characters."""
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = quad

    def top(f: float) -> Point:
        return tlx + f * (trx - tlx), tly + f * (try_ - tly)

    def bottom(f: float) -> Point:
        return blx + f * (brx - blx), bly + f * (bry - bly)

    return top(start), top(end), bottom(end), bottom(start)


def line_quad(words: Sequence[OcrToken]) -> Quad | None:
    """The quadrilateral of one line's ``words`` together: from the leftmost word's left edge
    to the rightmost's right edge; None where a word has none."""
    quads = [q for w in sorted(words, key=lambda w: w.box.xmin) if (q := w.quad) is not None]
    if not quads or len(quads) != len(words):
        return None
    return quads[0][0], quads[-1][1], quads[-1][2], quads[0][3]


def _word_lattices(line: OcrToken) -> list[Lattice | None]:
    """Each word's lattice, or None for every word where the lattice does not read as the text
    (an engine that keeps none, or a text edited after reading)."""
    texts = line.text.split()
    parts = split_at_spaces(line.lattice) if line.lattice else []
    if [greedy(p) for p in parts] != texts:
        return [None] * len(texts)
    return list(parts)


def reading_order(tokens: Sequence[OcrToken]) -> list[OcrToken]:
    """Tokens line by line, each line's words left to right, the engine's lines ordered by how
    each pair sits: side by side (sharing at least half the shorter one's height, and
    overlapping across by less than that) means left first, otherwise the higher one first.

    Growing rows from the top goes wrong on two-row plates, where the big last group of digits
    spans both rows ("MH 13" over "BN", with "4348" beside both): it pulls the rows into one and
    reads MH BN 13 4348. Judged pair by pair, 4348 sits beside both rows and comes last. Whole
    lines are judged, not words, so two skewed lines whose boxes overlap are not interleaved.
    When the pairwise judgements disagree with each other (a cycle), rows are grown as before.
    """
    lines: dict[int, list[OcrToken]] = {}
    for t in tokens:
        lines.setdefault(t.line, []).append(t)
    boxes = line_boxes(tokens)
    ranked = sorted(lines, key=lambda a: -sum(_before(boxes[a], boxes[b]) for b in lines if b != a))
    if not all(_before(boxes[a], boxes[b]) for i, a in enumerate(ranked) for b in ranked[i + 1 :]):
        return _rows(tokens)
    return [t for n in ranked for t in sorted(lines[n], key=lambda t: t.box.xmin)]


def _before(a: Box, b: Box) -> bool:
    unit = SAME_ROW * min(a.height, b.height)
    overlap_y = min(a.ymax, b.ymax) - max(a.ymin, b.ymin)
    overlap_x = min(a.xmax, b.xmax) - max(a.xmin, b.xmin)
    if overlap_y >= unit and overlap_x <= unit:
        return (a.xmin, a.center[1]) < (b.xmin, b.center[1])
    return a.center[1] < b.center[1]


def _rows(tokens: Sequence[OcrToken]) -> list[OcrToken]:
    """Sort tokens into rows (by vertical overlap), then left to right within a row."""
    return [
        tokens[i] for row in rows_of(tokens) for i in sorted(row, key=lambda i: tokens[i].box.xmin)
    ]


def rows_of(tokens: Sequence[OcrToken]) -> list[list[int]]:
    """The tokens' indices in rows, top down: a token whose centre lies within the band of the
    row above (its highest top to its lowest bottom) joins it."""
    rows: list[list[int]] = []
    top = bottom = 0.0
    for i in sorted(range(len(tokens)), key=lambda i: tokens[i].box.center[1]):
        box = tokens[i].box
        if rows and top <= box.center[1] <= bottom:
            rows[-1].append(i)
            top, bottom = min(top, box.ymin), max(bottom, box.ymax)
        else:
            rows.append([i])
            top, bottom = box.ymin, box.ymax
    return rows


def left_word(page: Sequence[OcrToken], words: Sequence[OcrToken]) -> str:
    """The text of the word just left of ``words``' first one on its OCR line ("" if none)."""
    if not words:
        return ""
    first = reading_order(words)[0]
    before = [w for w in page if w.line == first.line and w.box.center[0] < first.box.xmin]
    return max(before, key=lambda w: w.box.xmax).text if before else ""


def join_text(tokens: Sequence[OcrToken]) -> str:
    """Text of tokens in reading order: words of a row joined by spaces, rows by spaces."""
    return " ".join(t.text for t in reading_order(tokens))
