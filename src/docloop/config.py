"""Settings read from the environment (prefix ``DOCLOOP_``) once per process, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can tune; defaults run the product on one machine."""

    model_config = SettingsConfigDict(env_prefix="DOCLOOP_", extra="ignore")

    home: Path = Field(default=Path(".docloop"), description="Folder for the database and files.")
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; SQLite under `home` when unset.",
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
    bootstrap_api_key: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_pages: int = 50
    allow_private_urls: bool = False
    url_timeout_s: float = 10.0
    url_max_redirects: int = 3
    job_lease_s: float = 60.0
    job_max_attempts: int = 3
    worker_poll_s: float = 0.5
    inprocess_worker: bool = True
    worker_threads: int = Field(
        default=0, ge=0, description="Jobs a worker process runs at once (0: one per core)."
    )
    train_epochs: int = 60
    train_seed: int = 0
    train_members: int | None = Field(
        default=None,
        ge=1,
        le=8,
        description="Networks averaged per training (each costs one network's training time); "
        "unset: up to 3, as many as a few minutes allow (one on a few hundred receipts).",
    )
    train_processes: int = Field(
        default=1, ge=1, description="Data-parallel training processes (torchrun) per training."
    )
    torchrun_args: str = Field(
        default="",
        description="Extra torchrun arguments, e.g. multi-node rendezvous (see the README).",
    )
    checkpoint_every_s: float = Field(
        default=5.0, ge=0, description="Least seconds between two saves of a training's state."
    )
    system_metrics_s: float = Field(
        default=5.0, gt=0, description="How often a training samples CPU, memory and GPU use."
    )
    ocr_charset: Literal["latin", "all"] = Field(
        default="latin",
        description="Characters the OCR recognizer reads: latin (faster) or all (adds CJK).",
    )
    ocr_engines: int = Field(
        default=0, ge=0, description="OCR engines per process, for concurrent pages (0: per core)."
    )
    ocr_threads: int = Field(default=1, ge=1, description="ONNX Runtime threads per OCR engine.")
    ocr_processes: bool = Field(
        default=True,
        description="Run each OCR engine in a child process (true) or as a thread (false).",
    )
    cpu_hour_cost: float = Field(default=0.05, description="Cost of one CPU-hour, for run costs.")
    gpu_hour_cost: float = Field(default=2.50, description="Cost of one GPU-hour, for run costs.")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver we ship (psycopg 3) filled in for PostgreSQL."""
        url = self.database_url or f"sqlite:///{(self.home / 'docloop.db').resolve()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def storage(self) -> str:
        """The store's URL; a folder under the home on the embedded default."""
        return self.storage_url or (self.home / "blobs").resolve().as_uri()

    @property
    def blob_cache_dir(self) -> Path:
        return self.home / "cache" / "blobs"
