"""Extracted fields out of docloop: one row per file, one column per label, as CSV, JSON or XLSX.

Exports are built by a worker and stored as a blob, so an export of 10,000 files shows its
progress and is downloaded when ready instead of timing out in a request.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from sqlalchemy import Select, func, select, tuple_

from docloop.db.tables import Export, InferenceFile, InferencePage, Model, utcnow
from docloop.domain import JobKind
from docloop.errors import Conflict, InvalidInput, NotFound
from docloop.services import jobs, routing, second_review
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model
from docloop.services.predictions import DONE, epoch_day
from docloop.services.review_queue import _midnight
from docloop.services.users import require

FORMATS = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
BATCH = 500


def request_export(
    ctx: AppContext, who: Principal, model_id: str, fmt: str, start: date, end: date
) -> ExportView:
    require(who, "review")
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    if start > end:
        raise InvalidInput("the start date is after the end date")
    with ctx.session() as s:
        load_model(s, who, model_id)
        export = Export(
            id=str(uuid.uuid4()), model_id=model_id, format=fmt, status="queued", progress=0.0,
            filters={"start": start.isoformat(), "end": end.isoformat()}, created_by=who.actor,
        )  # fmt: skip
        s.add(export)
        jobs.enqueue(
            s, JobKind.EXPORT, {"export_id": export.id}, model_id=model_id,
            max_attempts=ctx.settings.job_max_attempts,
        )  # fmt: skip
        s.flush()
        return _view(export)


def get_export(ctx: AppContext, who: Principal, export_id: str) -> ExportView:
    with ctx.session() as s:
        return _view(_load(s, who, export_id))


def download(ctx: AppContext, who: Principal, export_id: str) -> tuple[bytes, str, str]:
    """The file's bytes, media type and a file name.

    Refused (UnderBlindReview) when the export may hold a file under the caller's open second
    review: a file of its range, unless the caller asked for the export after that review
    opened (it was then built without the file)."""
    with ctx.session() as s:
        export = _load(s, who, export_id)
        if export.status != "done" or export.blob_hash is None:
            raise Conflict(f"export {export_id} is not ready ({export.status})")
        mine = export.created_by == who.actor
        second_review.refuse_if_blind(
            s, who, _chosen(export).with_only_columns(InferenceFile.id),
            opened_after=export.created_at if mine else None,
        )  # fmt: skip
        name = f"docloop-{export.filters['start']}-{export.filters['end']}.{export.format}"
        return ctx.blobs.get(export.blob_hash), FORMATS[export.format], name


def _load(session: Any, who: Principal, export_id: str) -> Export:
    export = session.get(Export, export_id)
    if export is None:
        raise NotFound(f"no export {export_id!r}")
    load_model(session, who, export.model_id)
    return export


@dataclass(frozen=True, slots=True)
class ExportView:
    """A background export as its requester follows it; ``download`` is set once it is done."""

    id: str
    model_id: str
    format: str
    filters: dict[str, str]
    status: str
    progress: float
    rows: int | None
    error: str | None
    created_at: str
    download: str | None


def _view(e: Export) -> ExportView:
    return ExportView(
        id=e.id, model_id=e.model_id, format=e.format, filters=e.filters, status=e.status,
        progress=e.progress, rows=e.rows, error=e.error, created_at=e.created_at.isoformat(),
        download=f"/api/v1/exports/{e.id}/file" if e.status == "done" else None,
    )  # fmt: skip


def run_export_job(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Build the export in batches of ``BATCH`` files read by keyset, each written out to a
    temporary file at once, so 100,000 files take the memory of one batch, not of the lot.
    The files under its requester's open second reviews are left out: an export shows
    approvals and corrected fields."""
    export_id = payload["export_id"]
    with ctx.session() as s:
        export = s.get(Export, export_id)
        if export is None:
            return
        model = s.get(Model, export.model_id)
        if model is None:
            return
        labels, fmt, threshold = list(model.categories), export.format, model.review_threshold
        chosen = _chosen(export).where(
            InferenceFile.id.not_in(second_review.hidden_from(export.created_by))
        )
        total = s.scalar(chosen.with_only_columns(func.count())) or 0
        export.status = "running"
    columns = ["filename", "request_file_id", "moderated", "created_at", *labels]
    done, after = 0, chosen
    with tempfile.TemporaryFile() as out:
        with _writer(out, columns, fmt) as write:
            while True:
                with ctx.session() as s:
                    files = s.scalars(
                        after.order_by(InferenceFile.created_at, InferenceFile.id).limit(BATCH)
                    ).all()
                    if not files:
                        break
                    for row in _rows(s, files, labels, threshold):
                        write(row)
                    done += len(files)
                    last = tuple_(files[-1].created_at, files[-1].id)
                    after = chosen.where(tuple_(InferenceFile.created_at, InferenceFile.id) > last)
                    s.get(Export, export_id).progress = round(done / max(total, 1), 4)  # type: ignore[union-attr]
        out.seek(0)
        digest = ctx.blobs.put(out.read())
    with ctx.session() as s:
        export = s.get(Export, export_id)
        if export is not None:
            export.status, export.progress, export.rows = "done", 1.0, done
            export.blob_hash, export.finished_at = digest, utcnow()


def _chosen(export: Export) -> Select[tuple[InferenceFile]]:
    """The processed files of the export's model and range of days."""
    start = epoch_day(_midnight(date.fromisoformat(export.filters["start"])))
    end = epoch_day(_midnight(date.fromisoformat(export.filters["end"])))
    return select(InferenceFile).where(
        InferenceFile.model_id == export.model_id,
        InferenceFile.status == DONE,
        InferenceFile.day >= start,
        InferenceFile.day <= end,
    )


def mark_failed(session: Any, export_id: str, reason: str) -> None:
    export = session.get(Export, export_id)
    if export is not None:
        export.status, export.error = "failed", reason


def _rows(
    session: Any, files: Sequence[InferenceFile], labels: list[str], threshold: float | None
) -> Iterator[dict[str, Any]]:
    found: dict[str, list[dict[str, Any]]] = {f.id: [] for f in files}
    for page in session.scalars(
        select(InferencePage)
        .where(InferencePage.file_id.in_(list(found)))
        .order_by(InferencePage.page)
    ):
        found[page.file_id].extend(page.predictions)
    for f in files:
        fields = routing.read_fields(found[f.id], threshold)
        row: dict[str, Any] = {
            "filename": f.filename, "request_file_id": f.id,
            "moderated": "approved" if f.moderated else "not moderated",
            "created_at": f.created_at.isoformat(timespec="seconds"),
        }  # fmt: skip
        for label in labels:
            texts = [p["ocr_text"] for p in routing.ranked(fields) if p["label"] == label]
            row[label] = " | ".join(texts)
        yield row


@contextmanager
def _writer(
    out: IO[bytes], columns: list[str], fmt: str
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A function that writes one row to ``out`` in ``fmt``; the file is complete on exit."""
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")  # the BOM: Excel reads UTF-8
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        yield writer.writerow
        text.flush()
        text.detach()
    elif fmt == "json":
        first = [True]

        def write(row: dict[str, Any]) -> None:
            out.write(b"[\n" if first[0] else b",\n")
            out.write(json.dumps(row, ensure_ascii=False).encode())
            first[0] = False

        yield write
        out.write(b"[]" if first[0] else b"\n]")
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("fields")
        sheet.append(columns)
        yield lambda r: sheet.append([r[c] for c in columns])
        book.save(out)
