"""The relational schema. Rows stay in this package; services hand out plain values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Model(Base):
    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    model_type: Mapped[str] = mapped_column(String(40), default="ocr")
    categories: Mapped[list[Any]] = mapped_column(JSON)
    production_version_id: Mapped[str | None] = mapped_column(String(36))
    train_state: Mapped[str | None] = mapped_column(String(20))
    train_error: Mapped[str | None] = mapped_column(Text)
    train_progress: Mapped[float | None] = mapped_column(Float)
    train_eta_s: Mapped[float | None] = mapped_column(Float)
    # Routing: files whose every field is at least this confident and passes the rules are
    # approved without review. None: every file waits for a reviewer.
    review_threshold: Mapped[float | None] = mapped_column(Float)
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Share of each reviewer's approved files sent to a second reviewer (None: the setting).
    second_review_share: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingFile(Base):
    __tablename__ = "training_files"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    blob_hash: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(100))
    pages: Mapped[list[Any]] = mapped_column(JSON)
    annotations: Mapped[list[Any]] = mapped_column(JSON)
    # Every printed line's box and text ("transcription"), when the user has them: optional
    # training data, see services/transcriptions.py.
    transcription: Mapped[list[Any] | None] = mapped_column(JSON)
    # Where the file came from when not uploaded as training data: "review:<request_file_id>".
    source: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OcrResult(Base):
    __tablename__ = "ocr_results"
    blob_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    engine: Mapped[str] = mapped_column(String(100), primary_key=True)
    pages: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "priority", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_id: Mapped[str | None] = mapped_column(String(36), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    run_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DatasetVersion(Base):
    """An immutable snapshot of a model's training data: files by content hash, annotations.

    One row per distinct digest: trainings on unchanged data share it."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("model_id", "digest", name="uq_dataset_versions_digest"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    dataset_version_id: Mapped[str | None] = mapped_column(String(36))
    artifact_hash: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    train_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InferenceFile(Base):
    """One file sent for prediction; its id is the v2 ``request_file_id``.

    ``field_count``, ``flagged_count``, ``min_score`` and ``labels`` summarise the file's fields
    (not the alternatives nobody confirmed) so the review queue filters and sorts in SQL; they
    are kept up to date by ``services/file_summary.py`` wherever predictions are stored or
    corrected. ``usefulness`` (``ml/usefulness.py``: how much reviewing the file would teach the
    model) is set once, when the prediction is made: it reads the model's outputs, which a
    reviewer's corrections do not change.
    The indexes serve the queue's filters and sort orders with keyset pagination."""

    __tablename__ = "inference_files"
    __table_args__ = (
        Index("ix_inference_files_model_day", "model_id", "day"),
        Index("ix_inference_files_queue_created", "model_id", "status", "created_at", "id"),
        Index(
            "ix_inference_files_queue_moderated",
            "model_id",
            "status",
            "moderated",
            "created_at",
            "id",
        ),  # fmt: skip
        Index("ix_inference_files_queue_score", "model_id", "status", "min_score", "id"),
        Index("ix_inference_files_queue_filename", "model_id", "status", "filename", "id"),
        Index("ix_inference_files_queue_fields", "model_id", "status", "field_count", "id"),
        Index("ix_inference_files_queue_flagged", "model_id", "status", "flagged_count", "id"),
        Index("ix_inference_files_queue_assignee", "model_id", "status", "assigned_to", "id"),
        Index("ix_inference_files_queue_usefulness", "model_id", "status", "usefulness", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(500))
    blob_hash: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    model_version_id: Mapped[str | None] = mapped_column(String(36))
    request_metadata: Mapped[str | None] = mapped_column(Text)
    moderated: Mapped[bool] = mapped_column(Boolean, default=False)
    moderated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    moderated_by: Mapped[str | None] = mapped_column(String(200))
    assigned_to: Mapped[str | None] = mapped_column(String(200))
    # Seconds reviewers spent in the editor on this file before approving it (summed over
    # reviews), and seconds of OCR and inference its prediction took: the KPI dashboard's inputs.
    review_seconds: Mapped[float | None] = mapped_column(Float)
    predict_seconds: Mapped[float | None] = mapped_column(Float)
    day: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    field_count: Mapped[int] = mapped_column(Integer, default=0)
    flagged_count: Mapped[int] = mapped_column(Integer, default=0)
    min_score: Mapped[float | None] = mapped_column(Float)
    # The labels of the fields, each between two LABEL_SEP characters (``file_summary``).
    labels: Mapped[str] = mapped_column(Text, default="")
    usefulness: Mapped[float | None] = mapped_column(Float)


class InferencePage(Base):
    __tablename__ = "inference_pages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_id: Mapped[str] = mapped_column(
        ForeignKey("inference_files.id", ondelete="CASCADE"), index=True
    )
    page: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    predictions: Mapped[list[Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingRun(Base):
    """One training, from the Train call to a registered version (or a failure).

    Keyed by its job, so a worker that takes over a dead worker's job resumes the same run."""

    __tablename__ = "training_runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(20))
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    dataset_version_id: Mapped[str | None] = mapped_column(String(36))
    model_version_id: Mapped[str | None] = mapped_column(String(36))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    steps: Mapped[list[Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the notification channel announced the outcome (services/training_notices.py).
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StepOutput(Base):
    """A pipeline step's stored result, found by the digest of the step's inputs."""

    __tablename__ = "step_outputs"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(40))
    blob_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProductionChange(Base):
    """Each switch of the version a model serves: automatic, promoted or rolled back.

    ``previous_version_id`` is what a rollback from this change returns to."""

    __tablename__ = "production_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[str] = mapped_column(String(36))
    previous_version_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person who signs in to the web app; ``password_hash`` is scrypt with its parameters."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser: the cookie holds a secret whose SHA-256 is ``id``."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PredictionChange(Base):
    """Every change a reviewer makes to a prediction, with who and when (nothing is lost)."""

    __tablename__ = "prediction_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[str] = mapped_column(
        ForeignKey("inference_files.id", ondelete="CASCADE"), index=True
    )
    page: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Export(Base):
    """A download of extracted fields, built in the background (10,000 files never time out)."""

    __tablename__ = "exports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(10))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    rows: Mapped[int | None] = mapped_column(Integer)
    blob_hash: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WorkerSeen(Base):
    """A worker loop that said recently it is alive, and the job kinds it runs (None: all).

    Idle workers leave no trace in the jobs table, so this is how "no worker is alive" is told."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kinds: Mapped[list[Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertState(Base):
    """Whether a monitored figure of a model is past its threshold: an alert is sent when the
    state changes, once, whichever process noticed (the change is a conditional update)."""

    __tablename__ = "alert_states"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    figure: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), primary_key=True)  # "" for a model figure
    firing: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SecondReview(Base):
    """An approved file sampled for a second, blind review (services/second_review.py).

    ``shown`` is what the model predicted (what the second reviewer sees), ``first`` the first
    reviewer's approved fields when the file was sampled and ``second`` the second reviewer's
    fields: kept apart, so the second decision never changes the approved data."""

    __tablename__ = "second_reviews"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_id: Mapped[str] = mapped_column(
        ForeignKey("inference_files.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    first_reviewer: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    shown: Mapped[list[Any]] = mapped_column(JSON)
    first: Mapped[list[Any]] = mapped_column(JSON)
    second: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
