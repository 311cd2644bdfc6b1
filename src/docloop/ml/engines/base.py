"""What docloop needs from an OCR engine: text lines with boxes, and a name for the cache key."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from docloop.domain import OcrToken


class OcrEngine(Protocol):
    @property
    def name(self) -> str:
        """Engine, version and models: results are cached under (file hash, name)."""
        ...

    def read(self, image: np.ndarray) -> list[OcrToken]:
        """Text lines on an RGB page, each with its box in page pixels."""
        ...
