"""A trained field model as one immutable blob: the ONNX network plus what decoding learned.

From format 4 a bundle may also hold the model's own text recognizer (``recognizer.onnx``, the
shipped PP-OCR graph with tuned weights, ``ml/recognizer``), kept in the same zip rather than as
a blob of its own: a version stays one immutable artifact that serving loads, caches and
replaces whole, at some 12 MB more for a model whose training tuned it.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from docloop.ml.boxes import BoxRefiner
from docloop.ml.calibration import Calibration
from docloop.ml.decoding import DecodeConfig
from docloop.ml.layout import FieldLayout
from docloop.ml.reread import Rereader
from docloop.ml.textshape import TextShapeModel
from docloop.ml.usefulness import PageClusters

FORMAT = "docloop-field-tagger/4"
# Formats this release reads; 2 predates stored decoding thresholds (``decoding.FORMAT_2``),
# 2 and 3 a tuned recognizer.
READABLE = {"docloop-field-tagger/2", "docloop-field-tagger/3", FORMAT}
RECOGNIZER = "recognizer.onnx"


class UnknownFormat(ValueError):
    """An artifact written by another docloop version's field model (retraining replaces it)."""

    def __init__(self, found: object) -> None:
        super().__init__(f"model artifact format {found!r}, this docloop reads {FORMAT!r}")
        self.found = found


@dataclass
class FieldModelBundle:
    labels: list[str]
    onnx: bytes
    refiner: BoxRefiner
    shapes: TextShapeModel
    layout: FieldLayout
    reader: Rereader
    metrics: dict[str, Any]
    decoding: DecodeConfig = field(default_factory=DecodeConfig)
    recognizer: bytes | None = None  # the tuned line recognizer, when it read better
    # The training pages' layout clusters (empty in models trained before active learning).
    clusters: PageClusters = field(default_factory=PageClusters)
    # Learned confidences; absent from bundles made before them, which keep raw scores.
    calibration: Calibration = field(default_factory=Calibration)

    def to_bytes(self) -> bytes:
        meta = {
            "format": FORMAT,
            "labels": self.labels,
            "refiner": self.refiner.to_dict(),
            "shapes": self.shapes.to_dict(),
            "layout": self.layout.to_dict(),
            "reader": self.reader.to_dict(),
            "metrics": self.metrics,
            "decoding": self.decoding.to_dict(),
            "clusters": self.clusters.to_dict(),
            "calibration": self.calibration.to_dict(),
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("meta.json", json.dumps(meta, sort_keys=True))
            zf.writestr("model.onnx", self.onnx)
            if self.recognizer is not None:
                zf.writestr(RECOGNIZER, self.recognizer)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FieldModelBundle:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            meta = json.loads(zf.read("meta.json"))
            onnx = zf.read("model.onnx")
            recognizer = zf.read(RECOGNIZER) if RECOGNIZER in zf.namelist() else None
        if meta.get("format") not in READABLE:
            raise UnknownFormat(meta.get("format"))
        return cls(
            labels=meta["labels"],
            onnx=onnx,
            refiner=BoxRefiner(**meta["refiner"]),
            shapes=TextShapeModel.from_dict(meta["shapes"]),
            layout=FieldLayout(**meta["layout"]),
            # Models trained before re-reading existed read as the engine did.
            reader=Rereader.from_dict(meta["reader"]) if "reader" in meta else Rereader(),
            metrics=meta["metrics"],
            decoding=DecodeConfig.from_dict(meta.get("decoding")),
            recognizer=recognizer,
            clusters=PageClusters.from_dict(meta.get("clusters")),
            calibration=Calibration.from_dict(meta.get("calibration")),
        )
