"""Response models of the native API (``/api/v1``): the JSON each route answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from docloop.api.responses import (
    Box,
    Category,
    FileView,
    Page,
    ResponseModel,
    Size,
    UploadedFile,
)


class VersionSummary(ResponseModel):
    """A trained version of a model and its validation figures."""

    number: int
    id: str
    created_at: str
    train_seconds: float | None
    dataset_version_id: str | None
    metrics: dict[str, Any] = Field(description="Validation figures (text accuracy, per label).")
    compared_with_previous: dict[str, Any] | None = Field(
        description="How it validated against the version before it, when there was one."
    )


class Model(ResponseModel):
    """A model: its labels, training data, state and trained versions."""

    id: str
    name: str
    model_type: str
    state: int = Field(description="-1 failed, 0 created, 1 uploaded, 2 annotated, 3 queued, "
                       "4 training, 5 hosted (serves predictions).")  # fmt: skip
    status: str = Field(description="The state in a sentence (why a training failed).")
    categories: list[Category]
    files: int = Field(description="Training files.")
    progress: float | None = Field(description="Training progress from 0 to 1, while training.")
    eta_seconds: float | None
    version: int | None = Field(description="The version serving predictions.")
    versions: list[VersionSummary]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "17cbb22a-3f0e-4c54-9d5e-2b8f1a0c9e77",
                    "name": "plates",
                    "model_type": "ocr",
                    "state": 5,
                    "status": "Model is trained and hosted",
                    "categories": [{"name": "number_plate", "count": 190}],
                    "files": 190,
                    "progress": None,
                    "eta_seconds": None,
                    "version": 1,
                    "versions": [],
                }
            ]
        }
    )


class UploadedFiles(ResponseModel):
    files: list[UploadedFile]


class AnnotationObject(ResponseModel):
    """An annotated field, in the Nanonets upload shape."""

    name: str = Field(description="The label.")
    bndbox: Box | None = Field(description="Null when only the text of the field is known.")
    ocr_text: str
    page: int


class TrainingFile(ResponseModel):
    """A training file with its annotations (uploaded, or from an approved review)."""

    id: str
    filename: str
    source: str = Field(description="upload, review, import, ...")
    pages: list[Size]
    object: list[AnnotationObject]
    transcribed_lines: int
    created_at: str


class Preannotation(ResponseModel):
    """Suggested annotations, not saved."""

    source: Literal["model", "ocr"]
    object: list[AnnotationObject]


class TranscribedLine(ResponseModel):
    page: int
    bndbox: Box
    text: str


class FileTranscription(ResponseModel):
    file_id: str
    filename: str
    lines: list[TranscribedLine]


class TextUnder(ResponseModel):
    text: str = Field(description="The OCR words inside the box, in reading order.")


class RunSummary(ResponseModel):
    """A training run: outcome, the version it made and its headline figures."""

    id: str
    model_id: str
    status: str
    started_at: str
    finished_at: str | None
    dataset_version_id: str | None
    model_version: int | None
    promoted: bool | None
    promotion: Any = Field(description="Why the new version was (or was not) served.")
    error: str | None
    mlflow_run_id: str | None
    cached_steps: list[str]
    metrics: dict[str, float] = Field(default_factory=dict)


class RunDetail(RunSummary):
    """Everything recorded about a training; the MLflow fields when it was tracked."""

    report: dict[str, Any] | None
    steps: list[dict[str, Any]]
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    artifact_uri: str | None = None
    artifacts: list[str] = Field(default_factory=list)
    tracking_uri: str | None = None


class RunComparison(ResponseModel):
    runs: list[str]
    params: dict[str, list[Any]] = Field(description="Each parameter, one value per run.")
    metrics: dict[str, list[Any]] = Field(description="Each figure, one value per run.")
    differs: list[str] = Field(description='What is not the same, as "params.NAME".')


class QueuedFile(ResponseModel):
    """A file accepted for prediction in the background; poll it by ``request_file_id``."""

    request_file_id: str
    filename: str
    status: str
    size: Size = Field(description="The size of its first page.")
    request_metadata: str | None


class PredictedPages(ResponseModel):
    pages: list[Page]


class QueuedPredictions(ResponseModel):
    queued: list[QueuedFile]


class DatasetVersion(ResponseModel):
    id: str
    digest: str
    files: int
    annotations: int
    created_at: str
    model_versions: list[int] = Field(description="The model versions trained on it.")


class DatasetFile(ResponseModel):
    filename: str
    blob_hash: str


class DatasetDiff(ResponseModel):
    """Files added, removed and re-annotated between two dataset versions."""

    from_: str = Field(alias="from")
    to: str
    added: list[DatasetFile]
    removed: list[DatasetFile]
    reannotated: list[DatasetFile]


class FilesByModeration(ResponseModel):
    moderated: list[FileView]
    unmoderated: list[FileView]


class FileForReview(FileView):
    """A stored file as the review editor reads it, with who approved it and who has it."""

    moderated_by: str | None
    assigned_to: str | None


class ApprovedFile(FileView):
    added_to_training: bool = Field(description="Whether the file became training data.")


class NextFile(ResponseModel):
    next: str | None


class KpiReport(ResponseModel):
    """ROI and KPI figures per week, their totals, delivery figures and their definitions."""

    scope: dict[str, Any]
    start: str
    end: str
    rates: dict[str, float] = Field(description="The costs and times the figures assume.")
    totals: dict[str, Any]
    weeks: list[dict[str, Any]]
    delivery: dict[str, Any]
    definitions: dict[str, dict[str, str]]


class Change(ResponseModel):
    action: str
    page: int
    by: str | None
    at: str
    change: dict[str, Any] | None
