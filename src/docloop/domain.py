"""Plain value types shared by every layer (no database or web imports)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class ModelState(IntEnum):
    """The Nanonets model states; the v2 API returns them as integers."""

    FAILED = -1
    CREATED = 0
    UPLOADED = 1
    ANNOTATED = 2
    QUEUED = 3
    TRAINING = 4
    HOSTED = 5


STATE_STATUS = {
    ModelState.FAILED: "Training failed",
    ModelState.CREATED: "Model created, upload data to train it",
    ModelState.UPLOADED: "Data uploaded, annotate it to train the model",
    ModelState.ANNOTATED: "Data annotated, the model is ready to train",
    ModelState.QUEUED: "Training is queued",
    ModelState.TRAINING: "Model is training",
    ModelState.HOSTED: "Model is trained and hosted",
}


class JobKind(StrEnum):
    OCR = "ocr"
    TRAIN = "train"
    PREDICT = "predict"
    EXPORT = "export"
    WEBHOOK = "webhook"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# Higher runs first: a user waits on async predictions and exports, training can pick up OCR
# itself, and a webhook delivery is cheap.
JOB_PRIORITY = {
    JobKind.PREDICT: 20,
    JobKind.WEBHOOK: 15,
    JobKind.EXPORT: 12,
    JobKind.TRAIN: 10,
    JobKind.OCR: 0,
}


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in page pixels; ``validate`` refuses empty or inverted ones."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def center(self) -> tuple[float, float]:
        return (self.xmin + self.xmax) / 2, (self.ymin + self.ymax) / 2

    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.xmin, other.xmin),
            min(self.ymin, other.ymin),
            max(self.xmax, other.xmax),
            max(self.ymax, other.ymax),
        )

    def intersection(self, other: Box) -> float:
        ix = max(0.0, min(self.xmax, other.xmax) - max(self.xmin, other.xmin))
        iy = max(0.0, min(self.ymax, other.ymax) - max(self.ymin, other.ymin))
        return ix * iy

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area() + other.area() - inter
        return inter / union if union > 0 else 0.0

    def contains_point(self, x: float, y: float) -> bool:
        return self.xmin <= x <= self.xmax and self.ymin <= y <= self.ymax

    def as_dict(self) -> dict[str, int]:
        return {
            "xmin": round(self.xmin),
            "ymin": round(self.ymin),
            "xmax": round(self.xmax),
            "ymax": round(self.ymax),
        }


def enclosing(boxes: Iterable[Box]) -> Box:
    """The smallest box around every one of ``boxes`` (there must be at least one)."""
    it = iter(boxes)
    out = next(it)
    for b in it:
        out = out.union(b)
    return out


@dataclass(frozen=True, slots=True)
class Annotation:
    """One labelled field on a page; ``box`` is None when only the text is known."""

    label: str
    box: Box | None
    text: str | None = None
    page: int = 0


# Per recognizer time step, (character, probability) pairs, most likely first; "" is CTC's blank.
Step = tuple[tuple[str, float], ...]
Lattice = tuple[Step, ...]


Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]


def as_quad(corners: Iterable[Iterable[float]]) -> Quad:
    """Four (x, y) corners (JSON lists, a NumPy array's rows) as a ``Quad`` of floats."""
    a, b, c, d = ((float(x), float(y)) for x, y in corners)
    return a, b, c, d


@dataclass(frozen=True, slots=True)
class OcrToken:
    """A word read by the OCR engine, in page pixels; ``lattice`` is what the recognizer
    considered at each step (``ml/lattice.py``), and ``quad`` the corners of the tilted
    quadrilateral the engine cut it along (top left, top right, bottom right, bottom left),
    where the engine kept them."""

    text: str
    box: Box
    score: float
    line: int = 0
    lattice: Lattice | None = None
    quad: Quad | None = None


@dataclass(frozen=True, slots=True)
class FieldPrediction:
    label: str
    box: Box
    text: str
    score: float
