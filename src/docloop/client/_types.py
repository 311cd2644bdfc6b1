"""Typed results of the SDK: plain frozen dataclasses built from the native API's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HOSTED = 5
FAILED = -1


@dataclass(frozen=True, slots=True)
class Category:
    """A field the model extracts, with how many annotated boxes it has."""

    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Model:
    """A model as the server describes it; ``state`` is the Nanonets integer (5: hosted)."""

    id: str
    name: str
    state: int
    status: str
    categories: list[Category]
    files: int
    progress: float | None = None
    eta_seconds: float | None = None
    version: int | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hosted(self) -> bool:
        """True when the model serves predictions."""
        return self.state == HOSTED

    @property
    def finished(self) -> bool:
        """True when no training is running or queued: hosted or failed, progress cleared."""
        return self.state in (HOSTED, FAILED) and self.progress is None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            state=int(data["state"]),
            status=data.get("status") or "",
            categories=[Category(c["name"], int(c["count"])) for c in data.get("categories", [])],
            files=int(data.get("files") or 0),
            progress=data.get("progress"),
            eta_seconds=data.get("eta_seconds"),
            version=data.get("version"),
            versions=list(data.get("versions") or []),
        )


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A training file the server stored."""

    id: str
    filename: str
    pages: int
    objects: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UploadedFile:
        return cls(data["id"], data["filename"], int(data["pages"]), int(data["objects"]))


@dataclass(frozen=True, slots=True)
class Field:
    """One extracted field: its label, text, box (pixels) and score."""

    label: str
    text: str
    score: float
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    id: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Field:
        return cls(
            label=data["label"],
            text=data.get("ocr_text") or "",
            score=float(data.get("score") or 0.0),
            xmin=data["xmin"],
            ymin=data["ymin"],
            xmax=data["xmax"],
            ymax=data["ymax"],
            id=data.get("id") or "",
        )


@dataclass(frozen=True, slots=True)
class Page:
    """The prediction on one page of one file; ``file_id`` names the file for review calls."""

    file_id: str
    id: str
    filename: str
    page: int
    width: int
    height: int
    fields: list[Field]
    moderated: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The page as the server sent it (the v2 ``result`` entry)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        size = data.get("size") or {}
        return cls(
            file_id=data["request_file_id"],
            id=data["id"],
            filename=data.get("input") or "",
            page=int(data.get("page") or 0),
            width=int(size.get("width") or 0),
            height=int(size.get("height") or 0),
            fields=[Field.from_json(p) for p in data.get("prediction", [])],
            moderated=bool(data.get("moderated")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class QueuedFile:
    """A processed file as the review queue lists it. ``usefulness`` (0 to 1): how much
    reviewing it would teach the model; None for files predicted before it was scored."""

    id: str
    filename: str
    created_at: str
    moderated: bool
    fields: int
    min_score: float | None
    usefulness: float | None
    labels: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueuedFile:
        return cls(
            id=data["id"],
            filename=data["filename"],
            created_at=data["created_at"],
            moderated=bool(data["moderated"]),
            fields=int(data["fields"]),
            min_score=data.get("min_score"),
            usefulness=data.get("usefulness"),
            labels=list(data.get("labels") or []),
        )


@dataclass(frozen=True, slots=True)
class Export:
    """A background export of extracted fields; ``status`` is queued, running, done or failed."""

    id: str
    model_id: str
    format: str
    status: str
    progress: float
    rows: int | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Export:
        return cls(
            id=data["id"],
            model_id=data["model_id"],
            format=data["format"],
            status=data["status"],
            progress=float(data.get("progress") or 0.0),
            rows=data.get("rows"),
            error=data.get("error"),
        )
