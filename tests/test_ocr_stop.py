"""A training stopped during its OCR step reads no more pages than those already started."""

from __future__ import annotations

from pathlib import Path

import pytest

from docloop.errors import Interrupted
from docloop.services import ocr
from docloop.services.context import build_context
from tests.conftest import _ENGINE, make_settings, sample_items


def test_reading_stops_when_the_progress_callback_raises(tmp_path: Path) -> None:
    ctx = build_context(make_settings(tmp_path / "home", ocr_engines=1), ocr=_ENGINE)
    blobs = [(ctx.blobs.put(path.read_bytes()), path.name) for path, _ in sample_items(6)]

    def stop(done: int, total: int) -> None:
        raise Interrupted("the worker is stopping")

    with pytest.raises(Interrupted):
        ocr.read_blobs(ctx, blobs, stop)
    read = [h for h, _ in blobs if ocr.cached(ctx, h) is not None]
    assert len(read) < len(blobs) - 1, f"{len(read)} of {len(blobs)} files were read"
    ctx.close()
