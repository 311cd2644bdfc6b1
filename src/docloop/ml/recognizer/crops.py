"""Text-line crops as the PP-OCR recognizer takes them, the same in training and serving.

The engine's recognizer gets each detected line cut from the page in BGR, resized to 48 pixels
high keeping its aspect ratio, scaled to [-1, 1] and zero-padded on the right to the batch's
width (at least ``MIN_WIDTH``, as ``engines/rapid.py`` runs it). A line is cut as the engine
cut it where its quadrilateral is known: warped from the tilted four corners to an upright
rectangle, so the text fills the crop's height and runs level. A page read before the engine's
corners were kept has only the axis-aligned box, and a tilted line cut from it is looser and
slanted: over five folds of the number plates' training fields the shipped recognizer read 73%
of them right from such boxes, and 80% cut this way, as many as the engine itself. The engine's
crops of tall boxes are turned a quarter; docloop's are not, since its pages are upright and a
tall box there is a short word, not vertical text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from docloop.domain import Box, Quad

HEIGHT = 48
MIN_WIDTH = 160  # the engine's padded width (``engines/rapid.REC_MIN_WIDTH``)
# Padded widths a batch is cut at; a line wider than a model's cap (``DecodeConfig``'s
# ``line_max_width``, one of these) is squeezed to it. The engine reads every line at its own
# width; squeezing a 50-character address line into 320 pixels leaves the recognizer fewer
# time steps than characters, and the shipped recognizer then read 388 of 447 receipt field
# lines as the engine does, against 435 at their own width.
WIDTHS = (MIN_WIDTH, 240, 320, 480, 640, 960, 1280, 1920)


def cut(image: np.ndarray, box: Box, quad: Quad | None = None) -> np.ndarray | None:
    """The line's pixels from an RGB page, as BGR uint8: along ``quad`` where it is given,
    else the upright ``box``; None when it holds no pixel."""
    if quad is not None:
        return _warped(image, quad)
    h, w = image.shape[:2]
    x0, y0 = max(int(math.floor(box.xmin)), 0), max(int(math.floor(box.ymin)), 0)
    x1, y1 = min(int(math.ceil(box.xmax)), w), min(int(math.ceil(box.ymax)), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return np.ascontiguousarray(image[y0:y1, x0:x1, ::-1])


def _warped(image: np.ndarray, quad: Quad) -> np.ndarray | None:
    """The quadrilateral's pixels warped to an upright rectangle as long as its longer top or
    bottom edge and as high as its taller side (bicubic, the edge pixels repeated outside the
    page), as the engine cuts a line for its recognizer."""
    corners = np.array(quad, np.float32)
    tl, tr, br, bl = corners
    width = int(max(np.linalg.norm(tl - tr), np.linalg.norm(br - bl)))
    height = int(max(np.linalg.norm(tl - bl), np.linalg.norm(tr - br)))
    if width < 2 or height < 2:
        return None
    upright = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    warp = cv2.getPerspectiveTransform(corners, upright)
    rgb = cv2.warpPerspective(
        image, warp, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return np.ascontiguousarray(rgb[:, :, ::-1])


def width_of(crop: np.ndarray, max_width: int) -> int:
    """Pixels the crop spans once resized to ``HEIGHT`` (at most ``max_width``)."""
    h, w = crop.shape[:2]
    return max(1, min(max_width, math.ceil(HEIGHT * w / h)))


def normalized(crop: np.ndarray, width: int) -> np.ndarray:
    """(3, HEIGHT, width) float32 in [-1, 1], the crop resized to ``HEIGHT`` (squeezed to
    ``width`` where wider) and left-aligned, zeros after it."""
    resized_w = width_of(crop, width)
    resized = cv2.resize(crop, (resized_w, HEIGHT)).astype(np.float32)
    out = np.zeros((3, HEIGHT, width), np.float32)
    out[:, :, :resized_w] = resized.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def batch(crops: Sequence[np.ndarray], width: int) -> np.ndarray:
    """Crops as one (N, 3, HEIGHT, ``width``) array."""
    return np.stack([normalized(c, width) for c in crops])


def bucket(crop: np.ndarray, max_width: int) -> int:
    """The padded width a crop is read at: the narrowest of ``WIDTHS`` it fits, up to
    ``max_width`` (itself one of them), so a batch shares one width without padding short lines
    to the longest one."""
    return next(w for w in WIDTHS if width_of(crop, max_width) <= w)
