"""Serving a field model with ONNX Runtime only (no torch in the serving path)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort

from docloop.domain import FieldPrediction, OcrToken
from docloop.ml import usefulness
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.data import Example, collate
from docloop.ml.decode import group_fields
from docloop.ml.features import page_features, pair_features
from docloop.ml.recognizer.reading import LineReader
from docloop.ml.tokens import split_words
from docloop.ml.usefulness import Usefulness

# The network's optional second output: each ensemble member's per-word probabilities.
MEMBER_PROBS = "member_probs"


class FieldPredictor:
    def __init__(self, bundle: FieldModelBundle) -> None:
        self.bundle = bundle
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            bundle.onnx, sess_options=opts, providers=["CPUExecutionProvider"]
        )
        # Models trained before later word features were added read only the first ones.
        self.geo_dim = next(i.shape[-1] for i in self.session.get_inputs() if i.name == "geo")
        self.lines = (
            LineReader(bundle.recognizer, bundle.decoding.line_max_width)
            if bundle.recognizer is not None
            else None
        )
        # Models exported before active learning have no per-member output.
        self.has_members = MEMBER_PROBS in {o.name for o in self.session.get_outputs()}

    def predict_words(
        self,
        words: Sequence[OcrToken],
        width: int,
        height: int,
        image: np.ndarray | None = None,
        probs: np.ndarray | None = None,
    ) -> list[FieldPrediction]:
        """Fields from a page's words; with the page's ``image`` and a tuned recognizer in the
        bundle, the candidate fields' lines are read again by it first. ``probs`` are the
        words' probabilities where a predictor of the same network already computed them."""
        if probs is None:
            probs = self.probabilities(words, width, height)
        return self._fields(words, probs, width, height, image)

    def predict(
        self,
        lines: Sequence[OcrToken],
        width: int,
        height: int,
        image: np.ndarray | None = None,
    ) -> list[FieldPrediction]:
        """Fields on a page from the OCR engine's lines (and its RGB image, for a model with
        its own recognizer)."""
        return self.predict_words(split_words(lines), width, height, image)

    def assess(
        self,
        lines: Sequence[OcrToken],
        width: int,
        height: int,
        image: np.ndarray | None = None,
    ) -> tuple[list[FieldPrediction], Usefulness]:
        """``predict``'s fields, and how useful the page would be to review next."""
        words = split_words(lines)
        probs, members = self._run(words, width, height)
        fields = self._fields(words, probs, width, height, image)
        found = usefulness.assess(
            fields, self.bundle.labels, members, usefulness.layout_embedding(words, width, height),
            self.bundle.clusters,
        )  # fmt: skip
        return fields, found

    def probabilities(self, words: Sequence[OcrToken], width: int, height: int) -> np.ndarray:
        return self._run(words, width, height)[0]

    def _fields(
        self,
        words: Sequence[OcrToken],
        probs: np.ndarray,
        width: int,
        height: int,
        image: np.ndarray | None,
    ) -> list[FieldPrediction]:
        if image is not None and self.lines is not None:
            decoding = self.bundle.decoding
            words, probs = self.lines.reread_candidates(
                image, words, probs, decoding.doubt_min_prob, decoding.tilted_lines
            )
        return group_fields(
            words,
            probs,
            self.bundle.labels,
            width=width,
            height=height,
            refiner=self.bundle.refiner,
            shapes=self.bundle.shapes,
            layout=self.bundle.layout,
            reader=self.bundle.reader,
            config=self.bundle.decoding,
            calibration=self.bundle.calibration,
        )

    def _run(
        self, words: Sequence[OcrToken], width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-word class probabilities, and each member's (members, words, classes) when the
        model exports them."""
        if not words:
            return np.zeros((0, len(self.bundle.labels) + 1), np.float32), None
        chars, geo = page_features(words, width, height)
        ex = Example(chars, geo, pair_features(geo), np.zeros(len(words), np.int64))
        batch = collate([ex])
        batch["geo"] = batch["geo"][..., : self.geo_dim]
        feeds = {k: batch[k] for k in ("chars", "geo", "pairs", "mask")}
        found = self.session.run(None, feeds)
        logits = found[0][0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        members = found[1][:, 0] if self.has_members else None
        return e / e.sum(axis=1, keepdims=True), members


class PredictorCache:
    """Loaded predictors by artifact hash: each model version is loaded once per process."""

    def __init__(self, capacity: int = 8) -> None:
        self._items: OrderedDict[str, FieldPredictor] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def get(self, digest: str, load: Callable[[], bytes]) -> FieldPredictor:
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return self._items[digest]
        predictor = FieldPredictor(FieldModelBundle.from_bytes(load()))
        with self._lock:
            self._items[digest] = predictor
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return predictor
