"""Serving a field model with ONNX Runtime only (no torch in the serving path)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort

from docloop.domain import FieldPrediction, OcrToken
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.data import Example, collate
from docloop.ml.decode import group_fields
from docloop.ml.features import page_features, pair_features
from docloop.ml.tokens import split_words


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

    def predict_words(
        self, words: Sequence[OcrToken], width: int, height: int
    ) -> list[FieldPrediction]:
        probs = self.probabilities(words, width, height)
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

    def predict(self, lines: Sequence[OcrToken], width: int, height: int) -> list[FieldPrediction]:
        """Fields on a page from the OCR engine's lines."""
        return self.predict_words(split_words(lines), width, height)

    def probabilities(self, words: Sequence[OcrToken], width: int, height: int) -> np.ndarray:
        if not words:
            return np.zeros((0, len(self.bundle.labels) + 1), np.float32)
        chars, geo = page_features(words, width, height)
        ex = Example(chars, geo, pair_features(geo), np.zeros(len(words), np.int64))
        batch = collate([ex])
        batch["geo"] = batch["geo"][..., : self.geo_dim]
        feeds = {k: batch[k] for k in ("chars", "geo", "pairs", "mask")}
        logits = self.session.run(None, feeds)[0][0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


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
