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
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import onnxruntime as ort

from docloop.domain import Lattice, OcrToken, enclosing
from docloop.ml.lattice import compact, greedy
from docloop.ml.recognizer import crops
from docloop.ml.tokens import split_words


class LineReader:
    """A recognizer graph in an ONNX Runtime session, reading line crops into lattices."""

    def __init__(self, model: bytes, threads: int = 1) -> None:
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
            by_width[crops.bucket(image)].append(i)
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
    ) -> tuple[list[OcrToken], np.ndarray]:
        """``words`` with the lines of every label's candidates read again, and the tagger's
        probabilities carried over to the new words (each takes those of the old word of its
        line it overlaps most)."""
        if not words:
            return list(words), probs
        labelled = probs[:, 1:]
        chosen = {words[i].line for i in np.flatnonzero(labelled.max(axis=1) >= min_prob)}
        chosen |= {words[int(i)].line for i in labelled.argmax(axis=0)}
        by_line: dict[int, list[int]] = defaultdict(list)
        for i, w in enumerate(words):
            by_line[w.line].append(i)
        lines = sorted(chosen)
        boxes = [enclosing(words[i].box for i in by_line[n]) for n in lines]
        cut = [crops.cut(image, box) for box in boxes]
        readable = [k for k, c in enumerate(cut) if c is not None]
        readings = self.read([c for c in cut if c is not None])
        new_words: dict[int, list[tuple[OcrToken, int]]] = {}
        for k, lattice in zip(readable, readings, strict=True):
            n, old = lines[k], by_line[lines[k]]
            line = OcrToken(greedy(lattice), boxes[k], words[old[0]].score, n, lattice)
            split = [replace(w, line=n) for w in split_words([line])]
            if split:
                new_words[n] = [(w, _overlapping(w, [words[i] for i in old], old)) for w in split]
        out_words: list[OcrToken] = []
        rows: list[int] = []
        for i, w in enumerate(words):
            if w.line not in new_words:
                out_words.append(w)
                rows.append(i)
            elif i == by_line[w.line][0]:
                for new, row in new_words[w.line]:
                    out_words.append(new)
                    rows.append(row)
        return out_words, probs[rows]


def _overlapping(word: OcrToken, old: Sequence[OcrToken], rows: Sequence[int]) -> int:
    """The row of the old word ``word`` overlaps most across (the nearest when none does)."""

    def overlap(o: OcrToken) -> float:
        shared = min(word.box.xmax, o.box.xmax) - max(word.box.xmin, o.box.xmin)
        return shared if shared > 0 else -abs(word.box.center[0] - o.box.center[0])

    best = max(range(len(old)), key=lambda k: overlap(old[k]))
    return rows[best]
