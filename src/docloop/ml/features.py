"""Word tokens -> the arrays the field model reads. numpy only: serving never imports torch."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from docloop.domain import OcrToken

MAX_CHARS = 24
VOCAB_SIZE = 97  # character ids: 0 padding, 1..95 printable ASCII, 96 anything else
GEO_DIM = 21
# Models trained before the amount features read only the first 18 (``FieldPredictor``).
PAIR_DIM = 7
# A number with two decimals, thousands commas allowed, a currency or sign before it and a
# tax code after: "RM1,007.50", "-538.00", "12.90S". Not a date ("21.02.18").
AMOUNT = re.compile(r"[^\d]{0,4}?(\d{1,3}(?:,\d{3})+|\d+)[.,](\d{2})[^\d]{0,3}")


# The geometry's columns a word's text sets (its length, digit and letter shares, and the
# amount features); the others come from its box, its line and the engine's score alone.
TEXT_COLUMNS = [14, 15, 16, 18, 19, 20]


def page_features(
    tokens: Sequence[OcrToken], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Characters (T x MAX_CHARS) and geometry (T x GEO_DIM) of a page's words."""
    n = len(tokens)
    geo = np.zeros((n, GEO_DIM), dtype=np.float32)
    if n == 0:
        return np.zeros((0, MAX_CHARS), dtype=np.int64), geo
    w, h = float(max(width, 1)), float(max(height, 1))
    heights = np.array([max(t.box.height, 1.0) for t in tokens])
    med_h = float(np.median(heights))
    line_sizes: dict[int, int] = {}
    for t in tokens:
        line_sizes[t.line] = line_sizes.get(t.line, 0) + 1
    line_rank = {
        line: r for r, line in enumerate(sorted(line_sizes, key=lambda ln: _line_y(tokens, ln)))
    }
    seen: dict[int, int] = {}
    for i, t in enumerate(tokens):
        pos = seen.get(t.line, 0)
        seen[t.line] = pos + 1
        count = line_sizes[t.line]
        geo[i, :14] = (
            t.box.xmin / w,
            t.box.ymin / h,
            t.box.xmax / w,
            t.box.ymax / h,
            t.box.center[0] / w,
            t.box.center[1] / h,
            t.box.width / w,
            t.box.height / h,
            np.log(heights[i] / med_h),
            pos / max(count - 1, 1),
            float(pos == 0),
            float(pos == count - 1),
            min(count, 20) / 10.0,
            t.score,
        )
        geo[i, 17] = line_rank[t.line] / max(len(line_sizes) - 1, 1)
    chars, geo[:, TEXT_COLUMNS] = text_features(tokens)
    return chars, geo


def text_features(tokens: Sequence[OcrToken]) -> tuple[np.ndarray, np.ndarray]:
    """What the words' texts alone set: their characters (T x MAX_CHARS, ids 1..95 for
    printable ASCII, 96 for anything else, 0 for padding) and the geometry's ``TEXT_COLUMNS``
    (T x 6). A page whose words kept their boxes but changed their texts (a synthetic page)
    needs only these computed again."""
    texts = [t.text[:MAX_CHARS].replace("\0", "\1") for t in tokens]
    # Fixed-width UTF-32: one code point per column, 0 after the text's end.
    codes = np.array(texts, dtype=f"<U{MAX_CHARS}").view(np.uint32).reshape(-1, MAX_CHARS)
    chars = np.where((codes >= 32) & (codes <= 126), codes.astype(np.int64) - 31, 96)
    chars[codes == 0] = 0
    columns = np.zeros((len(tokens), len(TEXT_COLUMNS)))
    for i, (t, amount) in enumerate(zip(tokens, _amount_features(tokens), strict=True)):
        text = t.text
        k = max(len(text), 1)
        columns[i] = (
            min(len(text), 40) / 20.0,
            sum(c.isdigit() for c in text) / k,
            sum(c.isalpha() for c in text) / k,
            *amount,
        )
    return chars, columns


def amount_value(text: str) -> float | None:
    found = AMOUNT.fullmatch(text)
    return float(found[1].replace(",", "") + "." + found[2]) if found else None


def _amount_features(tokens: Sequence[OcrToken]) -> list[tuple[float, float, float]]:
    """Per word: whether it is an amount, how many other words hold the same amount (up to
    three), and where it ranks among the page's distinct amounts (1 for the largest).

    The network reads each word's characters and cannot compare numbers across a page; the
    value a document states twice and its largest are what a total or an amount due tends to
    be (on receipts, most totals read as another amount were printed twice),
    and the network learns from the user's fields whether they matter."""
    values = [amount_value(t.text) for t in tokens]
    distinct = sorted({v for v in values if v is not None})
    rank = {v: r / max(len(distinct) - 1, 1) for r, v in enumerate(distinct)}
    if len(distinct) == 1:
        rank = {distinct[0]: 1.0}
    out = []
    for v in values:
        if v is None:
            out.append((0.0, 0.0, 0.0))
        else:
            same = sum(w == v for w in values) - 1
            out.append((1.0, min(same, 3) / 3, rank[v]))
    return out


def pair_features(geo: np.ndarray) -> np.ndarray:
    """Pairwise layout (T x T x PAIR_DIM): offsets between centres in units of line height."""
    cx, cy, hh = geo[:, 4], geo[:, 5], np.maximum(geo[:, 7], 1e-4)
    unit = float(np.median(hh)) if len(hh) else 1.0
    dx = (cx[None, :] - cx[:, None]) / unit
    dy = (cy[None, :] - cy[:, None]) / unit
    same_line = (np.abs(dy) < 0.5).astype(np.float32)
    # Several scales stand in for a hidden layer: the bias network stays one linear map.
    out = np.stack(
        [np.tanh(dx / 10), np.tanh(dy / 10), np.tanh(dx / 3), np.tanh(dy / 3), np.tanh(dx),
         np.tanh(dy), same_line],
        axis=-1,
    )  # fmt: skip
    return out.astype(np.float32)


def _line_y(tokens: Sequence[OcrToken], line: int) -> float:
    return min(t.box.ymin for t in tokens if t.line == line)
