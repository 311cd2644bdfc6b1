"""rapidocr (PP-OCR detection + recognition, ONNX models shipped inside its wheel)."""

from __future__ import annotations

import logging
import threading
from importlib.metadata import version

import numpy as np

from docloop.domain import Box, OcrToken


class RapidOcrEngine:
    """One loaded engine per process; loading takes about a second, so it is built lazily."""

    def __init__(self) -> None:
        self._engine = None
        self._lock = threading.Lock()
        self._name = f"rapidocr-{version('rapidocr')}-ppocrv6s"

    @property
    def name(self) -> str:
        return self._name

    def _load(self):  # type: ignore[no-untyped-def]
        if self._engine is None:
            from rapidocr import RapidOCR

            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            self._engine = RapidOCR(params={"Global.log_level": "warning"})
        return self._engine

    def read(self, image: np.ndarray) -> list[OcrToken]:
        with self._lock:
            out = self._load()(image[:, :, ::-1])  # the engine expects BGR like OpenCV
        if out.boxes is None or out.txts is None:
            return []
        tokens = []
        for i, (quad, text, score) in enumerate(zip(out.boxes, out.txts, out.scores, strict=True)):
            xs, ys = quad[:, 0], quad[:, 1]
            box = Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            tokens.append(OcrToken(text=str(text), box=box, score=float(score), line=i))
        return tokens
