"""The SDK's operations, written once without I/O and run by the sync and the async client.

Each operation is a generator: it yields a :class:`Call` (and receives the server's successful
response) or a :class:`Sleep` (and receives ``None``), and returns the typed result. The two
clients differ only in how they send a call and how they sleep.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx

from docloop.client._errors import WaitTimeout
from docloop.client._types import Export, Model, Page, QueuedFile, UploadedFile

T = TypeVar("T")
API = "/api/v1"


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request, rebuilt identically on each retry."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    data: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Op = Generator[Call | Sleep, httpx.Response | None, T]
Progress = Callable[[int, int, str], None]
"""Called after each file of a folder upload with (files done, files in all, file name)."""


def _json(response: httpx.Response | None) -> Any:
    assert response is not None  # a Call is always answered with a response
    return response.json()


def list_models() -> Op[list[Model]]:
    return [Model.from_json(m) for m in _json((yield Call("GET", f"{API}/models")))]


def get_model(model_id: str) -> Op[Model]:
    return Model.from_json(_json((yield Call("GET", f"{API}/models/{model_id}"))))


def create_model(labels: Sequence[str], name: str | None) -> Op[Model]:
    body = {"labels": list(labels), "name": name}
    return Model.from_json(_json((yield Call("POST", f"{API}/models", json=body))))


def _part(path_or_name: str, data: bytes) -> tuple[str, tuple[str, bytes, str]]:
    media = mimetypes.guess_type(path_or_name)[0] or "application/octet-stream"
    return ("file", (Path(path_or_name).name, data, media))


def upload(
    model_id: str, files: Sequence[tuple[str, bytes]], annotations: Sequence[dict[str, Any]]
) -> Op[list[UploadedFile]]:
    call = Call(
        "POST", f"{API}/models/{model_id}/files",
        files=[_part(name, data) for name, data in files],
        data={"annotations": json.dumps(list(annotations))},
    )  # fmt: skip
    return [UploadedFile.from_json(f) for f in _json((yield call))["files"]]


def upload_folder(
    model_id: str, folder: Path, fmt: str | None, lines: bool, progress: Progress | None
) -> Op[list[UploadedFile]]:
    """Each annotated image of the folder, one request per file so progress can be shown."""
    from docloop.services import importers

    items = importers.read(folder, fmt)
    stored: list[UploadedFile] = []
    for done, (path, objects) in enumerate(items, start=1):
        entry: dict[str, Any] = {"filename": path.name, "object": objects}
        if lines and (transcription := importers.transcription_for(folder, path)) is not None:
            entry["transcription"] = transcription
        stored += yield from upload(model_id, [(path.name, path.read_bytes())], [entry])
        if progress is not None:
            progress(done, len(items), path.name)
    return stored


def train(model_id: str, force: bool) -> Op[Model]:
    call = Call("POST", f"{API}/models/{model_id}/train", params={"force": str(force).lower()})
    return Model.from_json(_json((yield call)))


def wait(model_id: str, timeout: float | None, poll: float) -> Op[Model]:
    """Poll until the training has finished (hosted or failed)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        model = yield from get_model(model_id)
        if model.finished:
            return model
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"model {model_id} still training after {timeout} s: {model.status}")
        yield Sleep(poll)


def predict(model_id: str, name: str, data: bytes, metadata: str | None) -> Op[list[Page]]:
    call = Call(
        "POST", f"{API}/models/{model_id}/predictions", files=[_part(name, data)],
        data=None if metadata is None else {"request_metadata": metadata},
    )  # fmt: skip
    return [Page.from_json(p) for p in _json((yield call))["pages"]]


def _file_pages(data: dict[str, Any]) -> list[Page]:
    return [Page.from_json({**p, "moderated": data.get("moderated")}) for p in data["result"]]


def prediction(model_id: str, file_id: str) -> Op[list[Page]]:
    return _file_pages(_json((yield Call("GET", f"{API}/models/{model_id}/predictions/{file_id}"))))


def approve(model_id: str, file_id: str, approved: bool) -> Op[list[Page]]:
    method = "PUT" if approved else "DELETE"
    path = f"{API}/models/{model_id}/predictions/{file_id}/approval"
    return _file_pages(_json((yield Call(method, path))))


def review_next(model_id: str, sort: str, order: str) -> Op[str | None]:
    params = {"sort": sort, "order": order}
    found = _json((yield Call("GET", f"{API}/models/{model_id}/review/next", params=params)))
    return found["next"] or None


def review_queue(
    model_id: str, sort: str, order: str, waiting: bool, limit: int
) -> Op[list[QueuedFile]]:
    params: dict[str, Any] = {"sort": sort, "order": order, "limit": limit}
    if waiting:
        params["moderated"] = "false"
    found = _json((yield Call("GET", f"{API}/models/{model_id}/review", params=params)))
    return [QueuedFile.from_json(f) for f in found["files"]]


def annotation_queue(model_id: str, n: int) -> Op[list[dict[str, Any]]]:
    call = Call("GET", f"{API}/models/{model_id}/annotation-queue", params={"n": n})
    return list(_json((yield call)))


def promote(model_id: str, version: int) -> Op[Model]:
    call = Call("PUT", f"{API}/models/{model_id}/production", json={"version": version})
    return Model.from_json(_json((yield call)))


def runs(model_id: str) -> Op[list[dict[str, Any]]]:
    return list(_json((yield Call("GET", f"{API}/models/{model_id}/runs"))))


def export(model_id: str, fmt: str, start: date, end: date) -> Op[Export]:
    body = {"format": fmt, "start": start.isoformat(), "end": end.isoformat()}
    call = Call("POST", f"{API}/models/{model_id}/exports", json=body)
    return Export.from_json(_json((yield call)))


def wait_export(export_id: str, timeout: float | None, poll: float) -> Op[Export]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        found = Export.from_json(_json((yield Call("GET", f"{API}/exports/{export_id}"))))
        if found.finished:
            return found
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"export {export_id} still {found.status} after {timeout} s")
        yield Sleep(poll)


def download_export(export_id: str) -> Op[bytes]:
    response = yield Call("GET", f"{API}/exports/{export_id}/file")
    assert response is not None
    return response.content
