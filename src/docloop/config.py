"""Settings read from the environment (prefix ``DOCLOOP_``) once per process, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """The per-user data folder (e.g. ~/.local/share/docloop), never the current folder."""
    return user_data_path("docloop", appauthor=False)


class Settings(BaseSettings):
    """Everything an operator can tune; defaults run the product on one machine."""

    model_config = SettingsConfigDict(env_prefix="DOCLOOP_", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Folder for the database and files (default: the per-user data folder).",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; SQLite under `home` when unset.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Migrate the database when a process starts. Unset: yes on the embedded "
        "SQLite, no on PostgreSQL, where replicas would race (run `docloop migrate` once).",
    )
    bootstrap_api_key: str | None = Field(
        default=None,
        description="An API key created with admin rights at start-up if it does not exist "
        "(how scripts, tests and containers get a first key).",
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, description="Largest file accepted, in bytes (413 above)."
    )
    max_pages: int = Field(default=50, description="Most pages of a PDF that are read.")
    allow_private_urls: bool = Field(
        default=False,
        description="Allow UploadUrls/LabelUrls to fetch URLs that resolve to loopback, "
        "private or link-local addresses (off: refused, against request forgery).",
    )
    url_timeout_s: float = Field(default=10.0, description="Seconds to fetch one URL.")
    url_max_redirects: int = Field(default=3, description="Redirects followed per URL.")
    job_lease_s: float = Field(
        default=60.0,
        description="Seconds a worker holds a job without a heartbeat before another takes it.",
    )
    job_max_attempts: int = Field(
        default=3, description="Tries of a background job before it is marked failed."
    )
    worker_poll_s: float = Field(
        default=0.5, description="Seconds an idle worker waits between looks at the queue."
    )
    inprocess_worker: bool = Field(
        default=True, description="Run a worker inside `docloop serve` (off: separate workers)."
    )
    shutdown_grace_s: float = Field(
        default=25.0,
        gt=0,
        description="Seconds `serve` waits for in-flight requests and in-process jobs on SIGTERM "
        "(below Kubernetes' default 30 s grace period).",
    )
    storage_url: str | None = Field(
        default=None,
        description="Where blobs, training state and run logs live: file:///path or "
        "s3://bucket/prefix; the `blobs` folder under `home` when unset.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of a non-AWS S3 store (MinIO, Ceph...)."
    )
    blob_cache_mb: int = Field(
        default=2048,
        ge=0,
        description="Local read-through cache of a remote store's blobs under `home` (0: none).",
    )
    worker_threads: int = Field(
        default=0,
        ge=0,
        description="Jobs a worker process runs at once (0: one per core it may use).",
    )
    train_epochs: int = Field(default=60, description="Epochs of the field tagger's training.")
    train_seed: int = Field(default=0, description="Random seed of training (reproducible runs).")
    # On by default: the tuning runs in a process of its own beside the network's training
    # (from the upload's OCR to the hosted model, 207 plates took 81 s with it, 405 receipts
    # 498 s against 465 without; docs/training.md), and the tuned recognizer serves only where
    # the whole model returns more held-out fields right with it than with the engine's
    # readings, beyond chance (ml/recognizer/choice.py).
    train_recognizer: bool = Field(
        default=True,
        description="Fine-tune the text recognizer on the model's field lines during training "
        "(served only where the whole model returns more held-out fields right with it, by "
        "more than chance).",
    )
    train_members: int | None = Field(
        default=None,
        ge=1,
        le=8,
        description="Networks averaged per training (each costs one network's training time); "
        "unset: up to 3, as many as a few minutes allow (one on a few hundred receipts).",
    )
    train_synthetic: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of the pages a training step reads that are synthetic pages made from "
        "them: the page's layout with new values of its fields' forms (0: none); unset: the "
        "trainer's default, chosen by the learning curve (docs/learning-curve.md).",
    )
    train_threads: int = Field(
        default=1,
        ge=0,
        description="PyTorch threads of a training in the worker's process (0: one per core it "
        "may use). The field tagger's batches are small, so more threads gain little, and where "
        "other work shares the cores they wait on each other: a 207-plate training spent 6 times "
        "the CPU with 2 threads as with 1 on a busy 2-core machine (benchmarks/train_speed.py).",
    )
    train_processes: int = Field(
        default=1, ge=1, description="Data-parallel training processes (torchrun) per training."
    )
    torchrun_args: str = Field(
        default="",
        description="Extra torchrun arguments, e.g. multi-node rendezvous (see Training).",
    )
    checkpoint_every_s: float = Field(
        default=5.0, ge=0, description="Least seconds between two saves of a training's state."
    )
    run_log_flush_s: float = Field(
        default=5.0,
        ge=0,
        description="Least seconds between two saves of a training's log to the store (it is "
        "also saved at the end); each save rewrites the whole log.",
    )
    system_metrics_s: float = Field(
        default=5.0, gt=0, description="How often a training samples CPU, memory and GPU use."
    )
    ocr_charset: Literal["latin", "all"] = Field(
        default="latin",
        description="Characters the OCR recognizer reads: latin (faster) or all (adds CJK).",
    )
    ocr_engines: int = Field(
        default=0,
        ge=0,
        description="OCR engines per process, for concurrent pages (0: one per core it may use).",
    )
    ocr_threads: int = Field(default=1, ge=1, description="ONNX Runtime threads per OCR engine.")
    ocr_processes: bool = Field(
        default=True,
        description="Run each OCR engine in a child process (true) or as a thread (false).",
    )
    metrics_queue_cache_s: float = Field(
        default=10.0, ge=0, description="How long /metrics reuses its queue and worker figures."
    )
    metrics_automation_cache_s: float = Field(
        default=60.0, ge=0, description="How long /metrics reuses its per-model automation figures."
    )
    cpu_hour_cost: float = Field(default=0.05, description="Cost of one CPU-hour, for run costs.")
    gpu_hour_cost: float = Field(default=2.50, description="Cost of one GPU-hour, for run costs.")
    # The ROI figures of the KPI dashboard (docs/kpis.md).
    manual_seconds_per_field: float = Field(
        default=30.0, ge=0, description="Seconds a person takes to type one field by hand."
    )
    reviewer_hour_cost: float = Field(
        default=25.0, ge=0, description="Cost of one hour of a reviewer's time."
    )
    second_review_share: float = Field(
        default=0.1, ge=0, le=1,
        description="Share of each reviewer's approved files (per model) sent to a second, "
        "blind reviewer; a model's own share overrides it (docs/quality.md).",
    )  # fmt: skip
    manual_document_cost: float = Field(
        default=1.50, ge=0, description="Cost of processing one document entirely by hand."
    )
    review_seconds_max: float = Field(
        default=1800.0, gt=0,
        description="Longest review time counted for one file (an editor left open over lunch "
        "counts this much).",
    )  # fmt: skip
    # Drift and health monitoring and its alerts (docs/monitoring.md).
    monitor_interval_s: float = Field(
        default=300.0, ge=0,
        description="How often the server computes the drift figures and checks the alerts "
        "(0: never; `docloop monitor` checks once).",
    )  # fmt: skip
    monitor_window_days: int = Field(
        default=7, ge=1, description="Days of predictions the current drift figures cover."
    )
    low_confidence: float = Field(
        default=0.5, ge=0, le=1, description="A field under this confidence is low-confidence."
    )
    drift_min_fields: int = Field(
        default=100, ge=1,
        description="Fewest predicted fields of a label for its PSI (with fewer, chance alone "
        "moves it past 0.25).",
    )  # fmt: skip
    alert_psi: float = Field(
        default=0.25, ge=0, description="Alert when a label's PSI reaches this (0.25: shifted)."
    )
    alert_low_confidence_share: float = Field(
        default=0.5, ge=0, le=1,
        description="Alert when this share of files has a low-confidence field.",
    )  # fmt: skip
    alert_correction_rate: float = Field(
        default=0.5, ge=0, le=1, description="Alert when this share of reviewed files is corrected."
    )
    alert_latency_p95_s: float = Field(
        default=10.0, gt=0, description="Alert when the p95 seconds per prediction reach this."
    )
    alert_webhook_url: str | None = Field(
        default=None,
        description="Receives alerts and finished or failed trainings as JSON POSTs.",
    )
    alert_emails: str = Field(
        default="", description="Comma-separated addresses e-mailed the same notifications."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no e-mail.")
    smtp_port: int = Field(default=587, description="SMTP port (465: implicit TLS).")
    smtp_user: str | None = Field(default=None, description="SMTP login, if the server needs one.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    smtp_from: str = Field(default="docloop@localhost", description="Sender of the e-mails.")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver we ship (psycopg 3) filled in for PostgreSQL."""
        url = self.database_url or f"sqlite:///{(self.home / 'docloop.db').resolve()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def migrates_at_start(self) -> bool:
        """``auto_migrate`` when set, else whether the database is the embedded SQLite one."""
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def storage(self) -> str:
        """The store's URL; a folder under the home on the embedded default."""
        return self.storage_url or (self.home / "blobs").resolve().as_uri()

    @property
    def blob_cache_dir(self) -> Path:
        return self.home / "cache" / "blobs"
