"""Training data: validate uploaded files and their annotations, then store them atomically."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from docloop.db.tables import TrainingFile
from docloop.domain import JobKind
from docloop.errors import InvalidInput, PayloadTooLarge
from docloop.ml.io import decode
from docloop.services import fetch as fetcher
from docloop.services import jobs
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model, touch
from docloop.services.users import require

# A transcription's limits: more lines than any page holds, longer text than any line.
MAX_LINES = 5000
MAX_TEXT = 1000


@dataclass(frozen=True, slots=True)
class IncomingFile:
    filename: str
    data: bytes


def parse_data(raw: str | bytes | list | dict | None) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    """The v2 ``data`` field: a JSON list of {filename, object}, a single such object, or none."""
    if raw is None or raw == "" or raw == b"":
        return []
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"data is not valid JSON: {exc}") from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise InvalidInput('data must be a JSON list of {"filename", "object"} entries')
    return raw


def check_size(ctx: AppContext, filename: str, data: bytes) -> None:
    if len(data) > ctx.settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"file {filename!r} is {len(data)} bytes; the limit is {ctx.settings.max_upload_bytes}"
        )


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"{what} must be a finite number")
    return number


def validate_objects(
    objects: object, labels: Sequence[str], sizes: Sequence[tuple[int, int]], filename: str
) -> list[dict[str, Any]]:
    """Annotations as stored: label, page, box (or None) and text; refuses anything unusable."""
    if objects is None:
        return []
    if not isinstance(objects, list):
        raise InvalidInput(f"{filename}: 'object' must be a list")
    out = []
    for n, obj in enumerate(objects):
        where = f"{filename}: object {n}"
        if not isinstance(obj, dict):
            raise InvalidInput(f"{where} must be a JSON object")
        label = obj.get("name", obj.get("label"))
        if label not in labels:
            raise InvalidInput(
                f"{where}: label {label!r} is not one of the model's labels {list(labels)}"
            )
        page_no = obj.get("page", obj.get("page_no", 0)) or 0
        if not isinstance(page_no, int) or not 0 <= page_no < len(sizes):
            raise InvalidInput(
                f"{where}: page {page_no!r} does not exist (the file has {len(sizes)})"
            )
        text = obj.get("ocr_text", obj.get("text"))
        if text is not None and not isinstance(text, str):
            raise InvalidInput(f"{where}: ocr_text must be a string")
        box = obj.get("bndbox")
        if box is not None:
            box = validate_box(box, sizes[page_no], where)
        elif not text:
            raise InvalidInput(f"{where}: needs a bndbox, an ocr_text, or both")
        out.append({"label": label, "page": page_no, "box": box, "text": text})
    return out


def validate_transcription(
    lines: object, sizes: Sequence[tuple[int, int]], filename: str
) -> list[dict[str, Any]] | None:
    """A transcription as stored (page, box, text per line), or None for an empty one."""
    if lines is None:
        return None
    if not isinstance(lines, list):
        raise InvalidInput(f"{filename}: transcription must be a list of lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(
            f"{filename}: transcription has {len(lines)} lines (at most {MAX_LINES})"
        )
    out = []
    for n, line in enumerate(lines):
        where = f"{filename}: transcription line {n}"
        if not isinstance(line, dict):
            raise InvalidInput(f"{where} must be a JSON object with text and bndbox")
        text = line.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise InvalidInput(f"{where}: text must be a non-empty string of at most {MAX_TEXT}")
        page = line.get("page", 0)
        if not isinstance(page, int) or not 0 <= page < len(sizes):
            raise InvalidInput(f"{where}: page {page!r} does not exist (the file has {len(sizes)})")
        if "bndbox" not in line:
            raise InvalidInput(f"{where}: needs a bndbox")
        box = validate_box(line["bndbox"], sizes[page], where)
        out.append({"page": page, "box": box, "text": text.strip()})
    return out or None


def validate_box(box: object, size: tuple[int, int], where: str) -> dict[str, float]:
    width, height = size
    if not isinstance(box, dict):
        raise InvalidInput(f"{where}: bndbox must be an object with xmin, ymin, xmax, ymax")
    try:
        x0, y0, x1, y1 = (
            _number(box[k], f"{where}: bndbox.{k}") for k in ("xmin", "ymin", "xmax", "ymax")
        )
    except KeyError as exc:
        raise InvalidInput(f"{where}: bndbox lacks {exc.args[0]}") from None
    if x1 <= x0 or y1 <= y0:
        raise InvalidInput(f"{where}: bndbox is zero-size or inverted ({x0}, {y0}, {x1}, {y1})")
    # A pixel or two past the edge is common in real annotation tools; clip it.
    tol_x, tol_y = max(2.0, 0.01 * width), max(2.0, 0.01 * height)
    if x0 < -tol_x or y0 < -tol_y or x1 > width + tol_x or y1 > height + tol_y:
        raise InvalidInput(
            f"{where}: bndbox ({x0}, {y0}, {x1}, {y1}) lies outside the {width}x{height} image"
        )
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(width), x1), min(float(height), y1)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise InvalidInput(f"{where}: bndbox is smaller than a pixel inside the image")
    return {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}


def _entry_for(entries: list[dict[str, Any]], filename: str) -> dict[str, Any] | None:
    if len(entries) == 1:
        return entries[0]
    base = PurePath(filename).name
    for e in entries:
        if PurePath(str(e.get("filename", ""))).name == base:
            return e
    return None


def add_files(
    ctx: AppContext, who: Principal, model_id: str, files: Sequence[IncomingFile], data: object
) -> list[dict[str, Any]]:
    """Validate every file and annotation first, then store all of them or none."""
    require(who, "data")
    entries = parse_data(data)  # type: ignore[arg-type]
    if not files:
        raise InvalidInput("no file was sent")
    with ctx.session() as s:
        labels = list(load_model(s, who, model_id).categories)
    prepared = []
    for f in files:
        check_size(ctx, f.filename, f.data)
        media_type, pages = decode(f.data, f.filename, max_pages=ctx.settings.max_pages)
        entry = _entry_for(entries, f.filename)
        sizes = [(p.width, p.height) for p in pages]
        objects = validate_objects(
            entry.get("object") if entry else None, labels, sizes, f.filename
        )
        lines = validate_transcription(
            entry.get("transcription") if entry else None, sizes, f.filename
        )
        prepared.append((f, media_type, pages, objects, lines))
    stored = []
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        for f, media_type, pages, objects, lines in prepared:
            digest = ctx.blobs.put(f.data)
            row = TrainingFile(
                id=str(uuid.uuid4()),
                model_id=model.id,
                filename=PurePath(f.filename).name,
                blob_hash=digest,
                media_type=media_type,
                pages=[{"width": p.width, "height": p.height} for p in pages],
                annotations=objects,
                transcription=lines,
            )
            s.add(row)
            jobs.enqueue(
                s, JobKind.OCR, {"blob_hash": digest, "filename": row.filename},
                model_id=model.id, max_attempts=ctx.settings.job_max_attempts,
            )  # fmt: skip
            stored.append(
                {
                    "id": row.id,
                    "filename": row.filename,
                    "pages": len(pages),
                    "objects": len(objects),
                }
            )
        touch(model)
    return stored


def add_urls(
    ctx: AppContext, who: Principal, model_id: str, urls: object, data: object
) -> list[dict[str, Any]]:
    return add_files(ctx, who, model_id, download_all(ctx, urls), data)


def download_all(ctx: AppContext, urls: object) -> list[IncomingFile]:
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise InvalidInput("urls must be a non-empty list of URLs")
    return [IncomingFile(*fetcher.fetch(u, ctx.settings)) for u in urls]


def run_ocr_job(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Background OCR of an uploaded file, so training later finds it in the cache."""
    from docloop.services.ocr import read_blob

    read_blob(ctx, payload["blob_hash"], payload["filename"])
