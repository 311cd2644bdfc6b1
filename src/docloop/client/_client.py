"""``Client`` and ``AsyncClient``: run the operations of ``_ops`` over httpx, with retries."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from docloop.client import _ops
from docloop.client._errors import ApiError, ClientError, TransportFailed
from docloop.client._ops import Call, Op, Progress, Sleep
from docloop.client._types import Export, Model, Page, QueuedFile, UploadedFile

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Retry:
    """How often and how patiently a request is retried on 429, 5xx or a connection failure.

    The n-th retry waits ``backoff * 2**n`` seconds (at most ``max_backoff``), or what the
    server's ``Retry-After`` header asks for."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before retrying after ``attempt`` (0-based), or None: give up."""
        if attempt + 1 >= self.attempts:
            return None
        if response is not None and response.status_code not in RETRY_STATUSES:
            return None
        after = response.headers.get("retry-after", "") if response is not None else ""
        wait = float(after) if after.replace(".", "", 1).isdigit() else self.backoff * 2**attempt
        return min(wait, self.max_backoff)


def _settings(url: str | None, api_key: str | None) -> tuple[str, str]:
    url = url or os.environ.get("DOCLOOP_URL")
    api_key = api_key or os.environ.get("DOCLOOP_API_KEY")
    if not url:
        raise ClientError("no server URL: pass url= or set DOCLOOP_URL")
    if not api_key:
        raise ClientError("no API key: pass api_key= or set DOCLOOP_API_KEY")
    return url.rstrip("/"), api_key


def _request(http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
    return http.build_request(
        call.method, call.path, params=call.params, json=call.json, files=call.files,
        data=call.data,
    )  # fmt: skip


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
        message, code = str(body.get("message", body)), str(body.get("error", ""))
    except ValueError:
        message, code = response.text[:200] or response.reason_phrase, ""
    raise ApiError(response.status_code, message, code)


class Client:
    """A docloop server, called synchronously.

    >>> with Client("http://127.0.0.1:8000", "KEY") as dl:  # doctest: +SKIP
    ...     model = dl.create_model(["number_plate"])
    ...     dl.upload_folder(model.id, Path("plates"))
    ...     dl.train(model.id)
    ...     dl.wait(model.id)
    ...     pages = dl.predict(model.id, Path("151.jpg"))

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000`` (default ``$DOCLOOP_URL``).
        api_key: an API key (default ``$DOCLOOP_API_KEY``).
        timeout: seconds one request may take (training is waited for by polling).
        retry: the retry policy for 429, 5xx and connection failures.
        transport: an httpx transport, e.g. to talk to an app in the same process.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        retry: Retry = Retry(),  # noqa: B008 (frozen, shared safely)
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base, key = _settings(url, api_key)
        self.url = base
        self.retry = retry
        self._http = httpx.Client(
            base_url=base, auth=(key, ""), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = self._http.send(_request(self._http, call))
                failure: Exception | None = None
            except httpx.TransportError as exc:
                response, failure = None, exc
            if response is not None and response.is_success:
                return response
            delay = self.retry.delay(attempt, response)
            if delay is None:
                if response is None:
                    raise TransportFailed(f"{call.method} {self.url}{call.path}: {failure}")
                _raise_for(response)
            time.sleep(delay or 0.0)
            attempt += 1

    def _run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                step = op.send(None if isinstance(step, Sleep) else self._send(step))
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def models(self) -> list[Model]:
        """The workspace's models, oldest first."""
        return self._run(_ops.list_models())

    def model(self, model_id: str) -> Model:
        return self._run(_ops.get_model(model_id))

    def create_model(self, labels: Sequence[str], name: str | None = None) -> Model:
        """A new model extracting the fields ``labels``."""
        return self._run(_ops.create_model(labels, name))

    def upload(
        self,
        model_id: str,
        files: Sequence[tuple[str, bytes]],
        annotations: Sequence[dict[str, Any]] = (),
    ) -> list[UploadedFile]:
        """Training files as (name, bytes), with their annotations in the v2 ``data`` shape."""
        return self._run(_ops.upload(model_id, files, annotations))

    def upload_folder(
        self,
        model_id: str,
        folder: Path,
        *,
        fmt: str | None = None,
        lines: bool = True,
        progress: Progress | None = None,
    ) -> list[UploadedFile]:
        """A dataset folder (``images/`` + ``annotations/<name>.json``, or VOC/COCO).

        ``lines`` also sends each image's ``lines/<name>.tsv`` transcription when present;
        ``progress(done, total, filename)`` is called after each file."""
        return self._run(_ops.upload_folder(model_id, folder, fmt, lines, progress))

    def train(self, model_id: str, *, force: bool = False) -> Model:
        """Queue a training; ``force`` serves the new version even if it validates worse."""
        return self._run(_ops.train(model_id, force))

    def wait(self, model_id: str, *, timeout: float | None = None, poll: float = 2.0) -> Model:
        """Poll until the model's training has finished; check ``.hosted`` on the result."""
        return self._run(_ops.wait(model_id, timeout, poll))

    def predict(
        self, model_id: str, file: Path | tuple[str, bytes], *, metadata: str | None = None
    ) -> list[Page]:
        """Fields on each page of an image or PDF (a path, or a (name, bytes) pair)."""
        name, data = (file.name, file.read_bytes()) if isinstance(file, Path) else file
        return self._run(_ops.predict(model_id, name, data, metadata))

    def prediction(self, model_id: str, file_id: str) -> list[Page]:
        """A stored prediction, page by page, with its current (reviewed) fields."""
        return self._run(_ops.prediction(model_id, file_id))

    def approve(self, model_id: str, file_id: str, *, approved: bool = True) -> list[Page]:
        """Mark a prediction reviewed (its fields then count as training data), or undo that."""
        return self._run(_ops.approve(model_id, file_id, approved))

    def review_next(
        self, model_id: str, *, sort: str = "created_at", order: str = "desc"
    ) -> str | None:
        """The id of the next file waiting for review in that order (by default the newest;
        ``sort="usefulness"``: the most useful to review), or None."""
        return self._run(_ops.review_next(model_id, sort, order))

    def review_queue(
        self,
        model_id: str,
        *,
        sort: str = "usefulness",
        order: str = "desc",
        waiting: bool = True,
        limit: int = 50,
    ) -> list[QueuedFile]:
        """The first ``limit`` (at most 200) processed files in the queue's order, by default
        those waiting for review, most useful to review first (active learning: the model's
        doubt and how unlike its training files each one is)."""
        return self._run(_ops.review_queue(model_id, sort, order, waiting, limit))

    def annotation_queue(self, model_id: str, n: int = 25) -> list[dict[str, Any]]:
        """Up to ``n`` (at most 200) training files without annotations, most useful to
        annotate next first (``id``, ``filename``, ``usefulness``); the model must be trained."""
        return self._run(_ops.annotation_queue(model_id, n))

    def runs(self, model_id: str) -> list[dict[str, Any]]:
        """The model's trainings, newest first, with their validation figures."""
        return self._run(_ops.runs(model_id))

    def promote(self, model_id: str, version: int) -> Model:
        """Serve ``version`` from now on."""
        return self._run(_ops.promote(model_id, version))

    def export(self, model_id: str, fmt: str, start: date, end: date) -> Export:
        """Start an export (csv, json or xlsx) of the fields extracted between two days."""
        return self._run(_ops.export(model_id, fmt, start, end))

    def wait_export(
        self, export_id: str, *, timeout: float | None = None, poll: float = 1.0
    ) -> Export:
        return self._run(_ops.wait_export(export_id, timeout, poll))

    def download_export(self, export_id: str) -> bytes:
        return self._run(_ops.download_export(export_id))


class AsyncClient:
    """The same calls as :class:`Client`, awaited: ``async with AsyncClient(url, key) as dl``."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        retry: Retry = Retry(),  # noqa: B008 (frozen, shared safely)
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base, key = _settings(url, api_key)
        self.url = base
        self.retry = retry
        self._http = httpx.AsyncClient(
            base_url=base, auth=(key, ""), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = await self._http.send(_request(self._http, call))
                failure: Exception | None = None
            except httpx.TransportError as exc:
                response, failure = None, exc
            if response is not None and response.is_success:
                return response
            delay = self.retry.delay(attempt, response)
            if delay is None:
                if response is None:
                    raise TransportFailed(f"{call.method} {self.url}{call.path}: {failure}")
                _raise_for(response)
            await asyncio.sleep(delay or 0.0)
            attempt += 1

    async def _run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                step = op.send(None if isinstance(step, Sleep) else await self._send(step))
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def models(self) -> list[Model]:
        return await self._run(_ops.list_models())

    async def model(self, model_id: str) -> Model:
        return await self._run(_ops.get_model(model_id))

    async def create_model(self, labels: Sequence[str], name: str | None = None) -> Model:
        return await self._run(_ops.create_model(labels, name))

    async def upload(
        self,
        model_id: str,
        files: Sequence[tuple[str, bytes]],
        annotations: Sequence[dict[str, Any]] = (),
    ) -> list[UploadedFile]:
        return await self._run(_ops.upload(model_id, files, annotations))

    async def upload_folder(
        self,
        model_id: str,
        folder: Path,
        *,
        fmt: str | None = None,
        lines: bool = True,
        progress: Progress | None = None,
    ) -> list[UploadedFile]:
        return await self._run(_ops.upload_folder(model_id, folder, fmt, lines, progress))

    async def train(self, model_id: str, *, force: bool = False) -> Model:
        return await self._run(_ops.train(model_id, force))

    async def wait(
        self, model_id: str, *, timeout: float | None = None, poll: float = 2.0
    ) -> Model:
        return await self._run(_ops.wait(model_id, timeout, poll))

    async def predict(
        self, model_id: str, file: Path | tuple[str, bytes], *, metadata: str | None = None
    ) -> list[Page]:
        name, data = (file.name, file.read_bytes()) if isinstance(file, Path) else file
        return await self._run(_ops.predict(model_id, name, data, metadata))

    async def prediction(self, model_id: str, file_id: str) -> list[Page]:
        return await self._run(_ops.prediction(model_id, file_id))

    async def approve(self, model_id: str, file_id: str, *, approved: bool = True) -> list[Page]:
        return await self._run(_ops.approve(model_id, file_id, approved))

    async def review_next(
        self, model_id: str, *, sort: str = "created_at", order: str = "desc"
    ) -> str | None:
        return await self._run(_ops.review_next(model_id, sort, order))

    async def review_queue(
        self,
        model_id: str,
        *,
        sort: str = "usefulness",
        order: str = "desc",
        waiting: bool = True,
        limit: int = 50,
    ) -> list[QueuedFile]:
        return await self._run(_ops.review_queue(model_id, sort, order, waiting, limit))

    async def annotation_queue(self, model_id: str, n: int = 25) -> list[dict[str, Any]]:
        return await self._run(_ops.annotation_queue(model_id, n))

    async def runs(self, model_id: str) -> list[dict[str, Any]]:
        return await self._run(_ops.runs(model_id))

    async def promote(self, model_id: str, version: int) -> Model:
        return await self._run(_ops.promote(model_id, version))

    async def export(self, model_id: str, fmt: str, start: date, end: date) -> Export:
        return await self._run(_ops.export(model_id, fmt, start, end))

    async def wait_export(
        self, export_id: str, *, timeout: float | None = None, poll: float = 1.0
    ) -> Export:
        return await self._run(_ops.wait_export(export_id, timeout, poll))

    async def download_export(self, export_id: str) -> bytes:
        return await self._run(_ops.download_export(export_id))
