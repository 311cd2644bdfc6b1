"""rapidocr (PP-OCR detection + recognition, ONNX models shipped inside its wheel), made cheaper.

What changes from rapidocr's defaults, each measured by ``benchmarks/ocr_speed.py`` to keep the
share of ground-truth values found in the output:

- scans whose short side is already 736 px or more are detected at 960 px on the long side
  instead of full resolution (printed text stays large enough); smaller photos are still
  enlarged to 736 px on the short side, as the default does, because plate text is small;
- recognition pads a short line to 160 px wide instead of 320 (the padding is pure cost);
- no angle classifier: uploads are upright pages, and without it plate and receipt values were
  found as often;
- the recognizer scores only the configured charset (``charset.py``);
- each engine runs ONNX Runtime on ``threads`` threads and a pool holds ``engines`` of them, so
  concurrent requests use every core instead of queueing behind one engine;
- ONNX Runtime's memory arena stays off, as rapidocr has it: with it an engine used 7% less CPU
  but grew to about 800 MB over 40 plate photos of different sizes (500 MB without);
- nor does ONNX Runtime plan one block for all of a run's tensors (its memory pattern): photos
  of every size each got a block of their own to fit, and an engine's peak over 80 plate photos
  fell from 542-627 MiB to 468-542 MiB without it, at the same CPU time;
- the page is handed over as a contiguous BGR array: a reversed-channel view made OpenCV copy the
  whole page again for every text line it cut out (3.0 s of 10.8 s on 10 receipts).

Each line comes back with its lattice (``ml/lattice.py``): the recognizer's probabilities, kept
as it computes them, so that a field can be read again with what its label's texts say; and with
the quadrilateral it was cut along, so that a model's own recognizer reads the line cut the same
way (``ml/recognizer/crops.py``).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from docloop.cpu_share import usable_cores
from docloop.domain import Box, Lattice, OcrToken, as_quad
from docloop.ml.engines.charset import sliced_recognizer
from docloop.ml.engines.pool import LazyPool
from docloop.ml.lattice import compact, greedy

SCAN_SHORT_SIDE = 736  # rapidocr's default: pages with a shorter short side are enlarged to it
SCAN_LONG_SIDE = 960  # detection size of larger scans
REC_MIN_WIDTH = 160


def models_dir() -> Path:
    """The folder of the ONNX models in rapidocr's wheel."""
    return Path(str(files("rapidocr") / "models"))


def recognizer_model(charset: str, cache_dir: Path) -> Path:
    """The recognizer graph the engine reads lines with (the wheel's, cut to ``charset``):
    what a model's training tunes (``ml/recognizer``)."""
    return sliced_recognizer(models_dir() / "PP-OCRv6_rec_small.onnx", charset, cache_dir)


@dataclass(frozen=True)
class OcrProfile:
    """How the engine runs; only ``charset`` changes what it reads, so only it names the cache."""

    charset: str = "latin"
    engines: int = 0  # 0: one per core the process may use
    threads: int = 1

    @property
    def pool_size(self) -> int:
        return self.engines or usable_cores()


class RapidOcrEngine:
    """A pool of engines shared by every thread of the process."""

    def __init__(self, profile: OcrProfile | None = None, cache_dir: Path | None = None) -> None:
        self.profile = profile or OcrProfile()
        self._cache_dir = cache_dir or Path(tempfile.gettempdir()) / "docloop-ocr"
        self.pool: LazyPool[Any] = LazyPool(self._build, self.profile.pool_size)
        self._name = engine_name(self.profile)

    @property
    def name(self) -> str:
        return self._name

    def _build(self) -> Any:
        import cv2
        from rapidocr import RapidOCR
        from threadpoolctl import threadpool_limits

        logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # an empty page is no warning
        # OpenCV's and BLAS's own thread pools (crops, resizes, box geometry) would fight the
        # other engines for the cores.
        cv2.setNumThreads(self.profile.threads)
        threadpool_limits(limits=self.profile.threads, user_api="blas")
        det = models_dir() / "PP-OCRv6_det_small.onnx"
        rec = recognizer_model(self.profile.charset, self._cache_dir)
        threads = self.profile.threads
        engine = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Det.model_path": str(det),
                "Rec.model_path": str(rec),
                "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        _without_memory_pattern(engine._load_det_model().session, det)
        recognizer = engine._load_rec_model()
        _without_memory_pattern(recognizer.session, rec)
        recognizer.session = _KeptOutputs(recognizer.session)
        return engine

    def read(self, image: np.ndarray) -> list[OcrToken]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # the engine expects BGR like OpenCV
        with self.pool.lend() as engine:
            _set_detection_size(engine, bgr.shape[0], bgr.shape[1])
            recognizer = engine._load_rec_model()
            kept = recognizer.session.batches
            kept.clear()  # a page that failed midway left its batches
            out = engine(bgr)
            lattices = _lattices_by_text(kept, recognizer.postprocess_op.character[1:])
            kept.clear()  # a receipt's probabilities take megabytes
        if out.boxes is None or out.txts is None:
            return []
        tokens = []
        for i, (quad, text, score) in enumerate(zip(out.boxes, out.txts, out.scores, strict=True)):
            xs, ys = quad[:, 0], quad[:, 1]
            box = Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            same = lattices.get(str(text))
            lattice = same.pop(0) if same else None
            tokens.append(OcrToken(str(text), box, float(score), i, lattice, as_quad(quad)))
        return tokens


class _KeptOutputs:
    """The recognizer's session, keeping each batch's probabilities for the page being read."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.batches: list[np.ndarray] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session(batch)
        self.batches.append(out)
        return out


def _lattices_by_text(batches: list[np.ndarray], characters: list[str]) -> dict[str, list[Lattice]]:
    """Every recognized crop's lattice under the text it reads as. rapidocr reorders crops by
    width and drops empty and low-scored lines, so a returned line finds its lattice by text
    (two lines that read the same have near-identical lattices)."""
    found: dict[str, list[Lattice]] = {}
    for batch in batches:
        for probs in batch:
            lattice = compact(probs, characters)
            found.setdefault(greedy(lattice), []).append(lattice)
    return found


def engine_name(profile: OcrProfile) -> str:
    """The OCR cache key: only the charset changes what an engine reads, wherever it runs."""
    return f"rapidocr-{version('rapidocr')}-ppocrv6s-docloop2-{profile.charset}"


def detection_size(height: int, width: int) -> tuple[str, int]:
    """rapidocr's (limit_type, limit_side_len) for a page of this size."""
    if min(height, width) >= SCAN_SHORT_SIDE:
        return "max", SCAN_LONG_SIDE
    return "min", SCAN_SHORT_SIDE


def _without_memory_pattern(session: Any, model: Path) -> None:
    """Reload rapidocr's session of ``model`` with its options but no memory pattern (rapidocr
    has no setting for it; a reload takes some 40 ms, once per engine)."""
    import onnxruntime as ort

    loaded = session.session
    options = loaded.get_session_options()
    options.enable_mem_pattern = False
    session.session = ort.InferenceSession(
        str(model), sess_options=options, providers=loaded.get_providers()
    )


def _set_detection_size(engine: Any, height: int, width: int) -> None:
    """Per page, on an engine this thread holds alone (rapidocr 3.10 reads these per call)."""
    detector = engine._load_det_model()
    detector.limit_type, detector.limit_side_len = detection_size(height, width)
