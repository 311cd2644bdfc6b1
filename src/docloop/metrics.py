"""Prometheus instruments of one process, in a registry of its own (never the global one), so
a test can build many contexts in one process and a worker can serve its figures on a port.

The services observe into ``ctx.metrics``; the API adds its request histogram and the figures
read from the database at scrape time (``docloop.api.metrics``).
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

# Seconds, from a cached page (milliseconds) to a long PDF.
OCR_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
TRAINING_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)


class Metrics:
    """What a process measures about its own work: OCR, inference, predictions, jobs, training."""

    def __init__(self) -> None:
        # The ``_created`` series double the output and no dashboard or alert reads them.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.ocr_seconds = Histogram(
            "docloop_ocr_seconds", "OCR engine time per page read (cache hits are not read).",
            buckets=OCR_BUCKETS, registry=r,
        )  # fmt: skip
        self.inference_seconds = Histogram(
            "docloop_inference_seconds", "Field model time per page (ONNX Runtime and decoding).",
            buckets=INFERENCE_BUCKETS, registry=r,
        )  # fmt: skip
        self.predictions = Counter(
            "docloop_predictions", "Files predicted, per model (sync and async).", ["model"],
            registry=r,
        )  # fmt: skip
        self.prediction_pages = Counter(
            "docloop_prediction_pages", "Pages predicted, per model.", ["model"], registry=r
        )
        self.prediction_fields = Counter(
            "docloop_prediction_fields", "Fields returned by predictions, per model.", ["model"],
            registry=r,
        )  # fmt: skip
        self.job_seconds = Histogram(
            "docloop_job_seconds", "Time a worker spent on one job attempt, per job kind.",
            ["kind"], buckets=JOB_BUCKETS, registry=r,
        )  # fmt: skip
        self.jobs_finished = Counter(
            "docloop_jobs_finished",
            "Job attempts ended, per kind and outcome: succeeded, retried (failed, will be tried "
            "again) or failed (no attempt left, or not retryable).",
            ["kind", "outcome"], registry=r,
        )  # fmt: skip
        self.training_started = Counter(
            "docloop_training_runs_started", "Training attempts started (a resumed run counts).",
            registry=r,
        )  # fmt: skip
        self.training_finished = Counter(
            "docloop_training_runs_finished", "Training attempts ended, per outcome.", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.training_seconds = Histogram(
            "docloop_training_seconds", "Wall time of a training attempt, per outcome.",
            ["outcome"], buckets=TRAINING_BUCKETS, registry=r,
        )  # fmt: skip

        # Set by each monitoring check (services/monitoring.py), over its window of predictions.
        self.drift = {
            "psi": Gauge(
                "docloop_drift_psi",
                "PSI of a label's field confidences against its version's validation.",
                ["model", "label"], registry=r,
            ),
            "low_confidence_share": Gauge(
                "docloop_low_confidence_files_share",
                "Share of the window's files with any field under the low-confidence setting.",
                ["model"], registry=r,
            ),
            "correction_rate": Gauge(
                "docloop_correction_rate",
                "Share of the window's files approved by a person that a reviewer corrected.",
                ["model"], registry=r,
            ),
            "latency_p95_s": Gauge(
                "docloop_prediction_p95_seconds",
                "95th percentile of OCR and inference seconds per file over the window.",
                ["model"], registry=r,
            ),
        }  # fmt: skip

    def monitoring_checked(self, figures: dict[str, list[tuple[str, str, float | None]]]) -> None:
        """Replace the drift gauges by one check's ``(figure, label, value)`` per model; a
        figure without a value (too few fields) has no series."""
        for gauge in self.drift.values():
            gauge.clear()
        for model_id, found in figures.items():
            for figure, label, value in found:
                if value is not None:
                    keys = (model_id, label) if figure == "psi" else (model_id,)
                    self.drift[figure].labels(*keys).set(value)

    def prediction_served(self, model_id: str, pages: int, fields: int) -> None:
        """Count one predicted file of ``pages`` pages that returned ``fields`` fields."""
        self.predictions.labels(model_id).inc()
        self.prediction_pages.labels(model_id).inc(pages)
        self.prediction_fields.labels(model_id).inc(fields)

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve this registry on ``http://host:port/metrics`` from a daemon thread (a worker
        process has no web server of its own); ``shutdown()`` the result to stop."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
