"""Every training as an MLflow run: what code, data, settings and machine made a model, what it
cost, and what came out, readable months later in MLflow's UI or through ``docloop runs``.

MLflow's tracking store is ``MLFLOW_TRACKING_URI`` when set (a team server); else, when docloop
runs on PostgreSQL, the same database in a schema of its own (``mlflow``: MLflow's tables and
its migration history stay apart from docloop's), so a training resumed on another machine
reopens its run; else a SQLite file under the home folder. Artifacts go to ``mlartifacts``
in docloop's blob store (the same bucket and endpoint when it is S3). The training log is a
named object in the store, readable from any replica. MLflow is imported only here and only
when a training runs: it is slow to import and the server's request path never needs it.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import resource
import subprocess
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docloop import __version__
from docloop.cpu_share import usable_cores
from docloop.services.context import AppContext
from docloop.storage.base import MLFLOW_ROOT

if TYPE_CHECKING:
    from mlflow import MlflowClient

METRICS_FLUSH_S = 5.0
MLFLOW_SCHEMA = "mlflow"


def tracking_uri(ctx: AppContext) -> str:
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    if url := _shared_database(ctx):
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}options=-csearch_path%3D{MLFLOW_SCHEMA}"
    return f"sqlite:///{(ctx.settings.home / 'mlflow.db').resolve()}"


def shown_uri(ctx: AppContext) -> str:
    """The tracking URI without its password, for people to read."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    uri = tracking_uri(ctx)
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:  # an http(s) MLflow server
        return uri


def _shared_database(ctx: AppContext) -> str | None:
    """docloop's PostgreSQL URL when MLflow's runs live in its ``mlflow`` schema, else None."""
    url = ctx.settings.sqlalchemy_url
    if "MLFLOW_TRACKING_URI" in os.environ or not url.startswith("postgresql"):
        return None
    return url


@functools.cache
def _prepare(database_url: str | None, endpoint_url: str | None) -> None:
    """Once per process: MLflow's schema exists in PostgreSQL, and MLflow's S3 client uses
    docloop's endpoint (MLflow reads it from ``MLFLOW_S3_ENDPOINT_URL``)."""
    if endpoint_url and "MLFLOW_S3_ENDPOINT_URL" not in os.environ:
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = endpoint_url
    if database_url is None:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {MLFLOW_SCHEMA}"))
    except Exception:  # another worker created it at the same moment
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": MLFLOW_SCHEMA}
            ).scalar()
        if not found:
            raise
    finally:
        engine.dispose()


def client(ctx: AppContext) -> MlflowClient:
    import logging

    from mlflow import MlflowClient

    # MLflow's start-up chatter (table creation, monitor start/stop) would drown progress bars.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    _prepare(_shared_database(ctx), ctx.settings.s3_endpoint_url)
    return MlflowClient(tracking_uri=tracking_uri(ctx))


def log_name(run_id: str) -> str:
    """The training log's named object in the blob store."""
    return f"runs/{run_id}/training.log"


def run_log(ctx: AppContext, run_id: str) -> str:
    """A training's log so far, from any machine ("" before its first lines are saved)."""
    data = ctx.blobs.get_named(log_name(run_id))
    return data.decode() if data is not None else ""


def git_commit() -> str:
    """The commit of the docloop checkout this code runs from ("unknown" for a wheel install)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty else "")


def hardware() -> dict[str, str]:
    """The machine a training ran on: its cores, and the share of them the process could use
    (affinity and cgroup quota), which sizes the training's threads."""
    import torch

    info = {
        "cpu": _cpu_name(),
        "cpu_count": str(os.cpu_count()),
        "usable_cores": str(usable_cores()),
        "torch_threads": str(torch.get_num_threads()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def installed_packages() -> str:
    """The environment as a requirements file: every installed distribution, pinned."""
    return "\n".join(
        sorted(
            {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()},
            key=str.lower,
        )
    )


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (torchrun ranks)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_memory_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)  # Linux reports KiB


class Tracker:
    """One training's MLflow run; reopened (same run) when another worker resumes the training."""

    def __init__(self, ctx: AppContext, run_id: str) -> None:
        self.ctx = ctx
        self.client = client(ctx)
        self.run_id = run_id
        self._log = run_log(ctx, run_id)  # a resumed run's log goes on from its start
        self._log_saved = float("-inf")  # the first line is saved at once
        self._log_dirty = False
        self._log_lock = threading.Lock()  # the recognizer's tuning logs from its own thread
        self._started_cpu = cpu_seconds()
        self._started = time.time()
        self._monitor: Any = None
        self._pending: list[Any] = []
        self._flushed = time.monotonic()

    @classmethod
    def open(
        cls, ctx: AppContext, model_id: str, model_name: str, run_id: str | None, run_name: str
    ) -> Tracker:
        """Resume ``run_id`` or start a new run in the model's experiment."""
        mlflow = client(ctx)
        if run_id is None:
            experiment_id = _experiment(ctx, mlflow, model_id, model_name)
            run_id = mlflow.create_run(
                experiment_id,
                run_name=run_name,
                tags={
                    "docloop.version": __version__,
                    "docloop.model_id": model_id,
                    "docloop.model_name": model_name,
                    "mlflow.source.git.commit": git_commit(),
                    "mlflow.source.name": "docloop training worker",
                },
            ).info.run_id
        else:  # a resumed training: the run may have been closed as FAILED by the last attempt
            mlflow.update_run(run_id, status="RUNNING")
        tracker = cls(ctx, run_id)
        tracker._start_system_metrics()
        return tracker

    def _start_system_metrics(self) -> None:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        self._monitor = SystemMetricsMonitor(
            self.run_id,
            sampling_interval=self.ctx.settings.system_metrics_s,
            resume_logging=True,
            tracking_uri=tracking_uri(self.ctx),
        )
        self._monitor.start()

    def log(self, message: str) -> None:
        """A line of the training log; the log is saved to the store every few seconds."""
        with self._log_lock:
            self._log += f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n"
            self._log_dirty = True
        if time.monotonic() - self._log_saved >= self.ctx.settings.run_log_flush_s:
            self._save_log()

    def _save_log(self) -> None:
        with self._log_lock:
            if self._log_dirty:
                self.ctx.blobs.put_named(log_name(self.run_id), self._log.encode())
                self._log_dirty = False
            self._log_saved = time.monotonic()

    def params(self, values: dict[str, Any]) -> None:
        from mlflow.entities import Param

        current = self.client.get_run(self.run_id).data.params
        fresh = [Param(k, str(v)[:6000]) for k, v in values.items() if k not in current]
        for i in range(0, len(fresh), 100):
            self.client.log_batch(self.run_id, params=fresh[i : i + 100])

    def metrics(self, values: dict[str, float | None], step: int = 0) -> None:
        """Buffered: per-epoch figures are sent every few seconds, not one request per epoch."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending += [
            Metric(k, float(v), now, step) for k, v in values.items() if v is not None
        ]
        if time.monotonic() - self._flushed >= METRICS_FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self._save_log()
        while self._pending:
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            self.client.log_batch(self.run_id, metrics=batch)
        self._flushed = time.monotonic()

    def dataset(self, *, name: str, digest: str, source: str, profile: dict[str, Any]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        self.client.log_inputs(
            self.run_id,
            datasets=[
                DatasetInput(
                    Dataset(name, digest[:36], "docloop", source, None, json.dumps(profile)),
                    [InputTag("mlflow.data.context", "training")],
                )
            ],
        )

    def artifact_text(self, text: str, path: str) -> None:
        self.client.log_text(self.run_id, text, path)

    def artifact_json(self, value: dict[str, Any], path: str) -> None:
        self.client.log_dict(self.run_id, value, path)

    def artifact_bytes(self, data: bytes, path: str) -> None:
        with tempfile.TemporaryDirectory(prefix="docloop-artifact-") as folder:
            local = Path(folder) / Path(path).name
            local.write_bytes(data)
            self.client.log_artifact(self.run_id, str(local), str(Path(path).parent or ""))

    def finish(self, status: str, *, gpu: bool, extra_cpu_seconds: float = 0.0) -> dict[str, float]:
        """Close the run with its wall time, CPU time, peak memory and estimated cost."""
        if self._monitor is not None:
            self._monitor.finish()
        wall = time.time() - self._started
        cpu = cpu_seconds() - self._started_cpu + extra_cpu_seconds
        hours = wall / 3600 if gpu else cpu / 3600
        rate = self.ctx.settings.gpu_hour_cost if gpu else self.ctx.settings.cpu_hour_cost
        figures = {
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "peak_memory_mb": peak_memory_mb(),
            "cost_estimate": round(hours * rate, 5),
        }
        if gpu:
            import torch

            figures["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        self.metrics(figures)
        self.flush()
        if self._log:
            self.artifact_text(self._log, "training.log")
        self.client.set_terminated(self.run_id, status)
        return figures


def _experiment(ctx: AppContext, mlflow: MlflowClient, model_id: str, model_name: str) -> str:
    name = f"docloop/{model_id}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    own_store = "MLFLOW_TRACKING_URI" not in os.environ  # else the team server decides
    location = f"{ctx.blobs.url}/{MLFLOW_ROOT}" if own_store else None
    try:
        return mlflow.create_experiment(
            name, artifact_location=location, tags={"docloop.model_name": model_name}
        )
    except Exception:  # created by another worker a moment ago
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
