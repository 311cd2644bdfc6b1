"""Reading a page's candidate field lines again with a model's own recognizer (ONNX Runtime).

The engine reads every line of a page with the shipped recognizer; a model whose training tuned
the recognizer on its fields (``tune.py``) carries the tuned graph in its bundle. At prediction,
the lines holding any word the field tagger gives a label some belief (what ``group_fields`` can
make a field of) are cut from the page and read again by that graph; their words, with the new
text and lattice, take the place of the engine's, so text correction and re-reading
(``reread.py``) work on the tuned reading. Only ONNX Runtime runs here, never torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnxruntime as ort

from docloop.domain import Box, Lattice, OcrToken, enclosing
from docloop.ml.lattice import compact, greedy
from docloop.ml.recognizer import crops
from docloop.ml.tokens import line_quad, split_words


class LineReader:
    """A recognizer graph in an ONNX Runtime session, reading line crops into lattices."""

    def __init__(self, model: bytes, max_width: int, threads: int = 1) -> None:
        self.max_width = max_width  # wider line crops are squeezed to it (``crops.bucket``)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_mem_pattern = False  # every page's lines have their own widths
        self.session = ort.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.characters = [*meta["character"].split("\n"), " "]
        self.input_name = self.session.get_inputs()[0].name

    def read(self, images: Sequence[np.ndarray]) -> list[Lattice]:
        """Each BGR line crop's lattice, read in batches of one padded width."""
        found: dict[int, Lattice] = {}
        by_width: dict[int, list[int]] = defaultdict(list)
        for i, image in enumerate(images):
            by_width[crops.bucket(image, self.max_width)].append(i)
        for width, idx in by_width.items():
            batch = crops.batch([images[i] for i in idx], width)
            probs = self.session.run(None, {self.input_name: batch})[0]
            for i, p in zip(idx, probs, strict=True):
                found[i] = compact(p, self.characters)
        return [found[i] for i in range(len(images))]

    def reread_candidates(
        self,
        image: np.ndarray,
        words: Sequence[OcrToken],
        probs: np.ndarray,
        min_prob: float,
        tilted: bool,
    ) -> tuple[list[OcrToken], np.ndarray]:
        """``words`` with the lines of every label's candidates read again (cut as
        ``line_crops`` cuts them), and the tagger's probabilities carried over to the new words
        (``with_lines``)."""
        if not words:
            return list(words), probs
        labelled = probs[:, 1:]
        chosen = {words[i].line for i in np.flatnonzero(labelled.max(axis=1) >= min_prob)}
        chosen |= {words[int(i)].line for i in labelled.argmax(axis=0)}
        return with_lines(words, probs, self.read_lines(line_crops(image, words, chosen, tilted)))

    def read_lines(self, cut: dict[int, LineCrop]) -> dict[int, OcrToken]:
        """Each cut line read again: one token a line, with its lattice."""
        readings = self.read([c.pixels for c in cut.values()])
        return {
            n: OcrToken(greedy(lattice), c.box, c.score, n, lattice)
            for (n, c), lattice in zip(cut.items(), readings, strict=True)
        }


@dataclass(frozen=True)
class LineCrop:
    """A line of a page cut along its words' enclosing box (BGR), with the engine's score."""

    box: Box
    score: float
    pixels: np.ndarray


def line_crops(
    image: np.ndarray, words: Sequence[OcrToken], lines: Iterable[int], tilted: bool = True
) -> dict[int, LineCrop]:
    """Each of ``lines`` (the engine's line numbers of ``words``) that holds pixels, cut from
    the RGB page: along the engine's quadrilateral where the words keep it and ``tilted`` (as
    training cuts lines since it could), else along the upright box."""
    by_line: dict[int, list[OcrToken]] = defaultdict(list)
    for w in words:
        by_line[w.line].append(w)
    out = {}
    for n in sorted(lines):
        if by_line[n]:
            box = enclosing(w.box for w in by_line[n])
            pixels = crops.cut(image, box, line_quad(by_line[n]) if tilted else None)
            if pixels is not None:
                out[n] = LineCrop(box, by_line[n][0].score, pixels)
    return out


def with_lines(
    words: Sequence[OcrToken], probs: np.ndarray, read: dict[int, OcrToken]
) -> tuple[list[OcrToken], np.ndarray]:
    """``words`` with each line in ``read`` replaced by the words of its new reading, and the
    tagger's probabilities (rows of ``probs``) carried over to the new words: each takes the
    mean of its line's old words' probabilities, weighted by how far across it overlaps them.
    (A re-read line often comes back as one word where the engine read several, as the tuned
    recognizer learns annotated texts, which mostly have no spaces; given the probabilities of
    the one old word it overlapped most, a whole plate took the belief of its last group of
    digits, and a lesser line won the field.)"""
    by_line: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(words):
        by_line[w.line].append(i)
    new_words: dict[int, list[tuple[OcrToken, np.ndarray]]] = {}
    for n, line in read.items():
        old = by_line[n]
        split = [replace(w, line=n) for w in split_words([line])]
        if split and old:
            weights = [_overlaps(w, [words[i] for i in old]) for w in split]
            new_words[n] = [(w, wt @ probs[old]) for w, wt in zip(split, weights, strict=True)]
    out_words: list[OcrToken] = []
    rows: list[np.ndarray] = []
    for i, w in enumerate(words):
        if w.line not in new_words:
            out_words.append(w)
            rows.append(probs[i])
        elif i == by_line[w.line][0]:
            for new, row in new_words[w.line]:
                out_words.append(new)
                rows.append(row.astype(probs.dtype))
    return out_words, np.stack(rows) if rows else probs[:0]


def _overlaps(word: OcrToken, old: Sequence[OcrToken]) -> np.ndarray:
    """Weights summing to 1 over the ``old`` words: how far across ``word`` overlaps each (all
    on the nearest one when it overlaps none)."""
    shared = np.array(
        [min(word.box.xmax, o.box.xmax) - max(word.box.xmin, o.box.xmin) for o in old], float
    )
    if shared.max() > 0:
        shared = np.clip(shared, 0, None)
        return shared / shared.sum()
    out = np.zeros(len(old))
    out[int(np.argmin([abs(word.box.center[0] - o.box.center[0]) for o in old]))] = 1.0
    return out
