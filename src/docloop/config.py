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
    worker_threads: int = Field(
        default=0, ge=0, description="Jobs a worker process runs at once (0: one per core)."
    )
    train_epochs: int = Field(default=60, description="Epochs of the field tagger's training.")
    train_seed: int = Field(default=0, description="Random seed of training (reproducible runs).")
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
        description="Extra torchrun arguments, e.g. multi-node rendezvous (see Training).",
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
    def blob_dir(self) -> Path:
        return self.home / "blobs"
