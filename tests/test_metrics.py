"""/metrics, the worker's metrics port, the worker registry, and the deploy/ files that read
the metrics (alert rules, Prometheus configuration, Grafana dashboard)."""

from __future__ import annotations

import io
import json
import re
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import update

from docloop.api.app import create_app
from docloop.db.tables import Job, WorkerSeen, utcnow
from docloop.domain import JobKind
from docloop.samples import PLATES
from docloop.services import auth, datasets, jobs, predictions, review, worker_registry
from docloop.services.context import AppContext
from tests.conftest import basic, run_jobs

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNSEEN = sorted((PLATES / "unseen").iterdir())


def scrape(client: TestClient) -> dict[str, list[Sample]]:
    """Samples of every family in the client's ``/metrics``, by family name."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def value(samples: list[Sample], name: str | None = None, **labels: str) -> float:
    """The one sample with these labels (and this sample name, for histograms)."""
    [found] = [
        s
        for s in samples
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return found.value


def fresh_photo(path: Path) -> tuple[str, bytes]:
    """A bundled photo with one pixel changed: new content, so the OCR cache misses."""
    image = Image.open(path).convert("RGB")
    image.putpixel((0, 0), (uuid.uuid4().int % 256, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return f"{path.stem}.png", out.getvalue()


def test_metrics_after_a_prediction_and_a_job(trained_client, trained) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    ctx: AppContext = trained[0]
    r = client.post(f"/api/v2/OCR/Model/{mid}/LabelFile/", files={"file": fresh_photo(UNSEEN[0])})
    assert r.status_code == 200, r.text
    fields = sum(len(p["prediction"]) for p in r.json()["result"])
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelFile/Async/", files={"file": fresh_photo(UNSEEN[1])}
    )
    assert r.status_code == 200, r.text
    before = scrape(client)
    assert value(before["docloop_queue_jobs"], kind="predict", status="queued") >= 1
    assert value(before["docloop_queue_oldest_age_seconds"], kind="predict", status="queued") >= 0
    assert run_jobs(ctx) >= 1

    m = scrape(client)
    latency = m["docloop_http_request_seconds"]
    route = "/api/v2/{family}/Model/{model_id}/LabelFile/"
    assert value(latency, "docloop_http_request_seconds_count", route=route, status="200") >= 1
    assert not any(mid in s.labels["route"] for s in latency)  # templates, never ids
    assert value(m["docloop_predictions"], model=mid) >= 2  # the sync and the async file
    assert value(m["docloop_prediction_fields"], model=mid) >= fields
    assert value(m["docloop_prediction_pages"], model=mid) >= 2
    assert value(m["docloop_ocr_seconds"], "docloop_ocr_seconds_count") >= 2
    assert value(m["docloop_inference_seconds"], "docloop_inference_seconds_count") >= 2
    assert value(m["docloop_jobs_finished"], kind="predict", outcome="succeeded") >= 1
    assert value(m["docloop_job_seconds"], "docloop_job_seconds_count", kind="predict") >= 1
    # The fixture's training ran on this context: its attempt was measured.
    assert value(m["docloop_training_runs_started"]) >= 1
    assert value(m["docloop_training_runs_finished"], outcome="succeeded") >= 1
    assert (
        value(m["docloop_training_seconds"], "docloop_training_seconds_count", outcome="succeeded")
        >= 1
    )
    assert value(m["docloop_jobs_finished"], kind="train", outcome="succeeded") >= 1
    # The backlog and automation figures were cached by the first scrape (10 s and 60 s).
    assert value(m["docloop_queue_jobs"], kind="predict", status="queued") >= 1
    assert value(m["docloop_files_processed"], model=mid) >= 1
    assert {s.labels["kind"] for s in m["docloop_workers_alive"]} == {k.value for k in JobKind}
    assert value(m["docloop_database_up"]) == 1
    assert "process_resident_memory_bytes" in m


def test_automation_figures_match_review_stats(trained) -> None:  # type: ignore[no-untyped-def]
    ctx, mid = trained
    who = auth.authenticate(ctx, "test-admin-key")
    files = [datasets.IncomingFile(*fresh_photo(p)) for p in UNSEEN[:2]]
    done = predictions.predict_files(ctx, who, mid, files)
    first, second = done[0], done[-1]
    predictions.update_page(
        ctx, who, mid,
        {"id": first.id, "prediction": first.prediction, "change": {"action": "edit_text"}},
    )  # fmt: skip
    predictions.set_moderated(ctx, who, mid, first.request_file_id, True)
    predictions.set_moderated(ctx, who, mid, second.request_file_id, True)
    expected = review.stats(ctx, who, mid)
    with ctx.session() as s:
        figures = review.automation_by_model(s)[mid]
    assert figures.processed == expected.processed
    assert figures.approved == expected.approved >= 2
    assert figures.approved_without_correction == expected.approved_without_correction
    assert figures.approved_without_correction < figures.approved  # the edited file
    assert figures.straight_through == expected.straight_through


def test_routes_are_labelled_by_template_and_unknown_paths_share_one_label(client) -> None:  # type: ignore[no-untyped-def]
    missing = str(uuid.uuid4())
    assert client.get(f"/api/v2/OCR/Model/{missing}").status_code == 404
    assert client.get(f"/scanner/{missing}").status_code == 404
    assert client.get("/static/no-such-file.css").status_code == 404
    text = client.get("/metrics").text
    assert missing not in text
    latency = scrape(client)["docloop_http_request_seconds"]
    routes = {(s.labels["route"], s.labels["status"]) for s in latency}
    assert ("/api/v2/{family}/Model/{model_id}", "404") in routes
    assert ("unmatched", "404") in routes
    assert ("/static/{path}", "404") in routes


def test_backlog_is_read_from_the_database_and_cached(db_ctx) -> None:  # type: ignore[no-untyped-def]
    with db_ctx.session() as s:
        for _ in range(2):
            jobs.enqueue(s, JobKind.EXPORT, {"export_id": "x"}, model_id=None, max_attempts=1)
        s.execute(update(Job).values(created_at=utcnow() - timedelta(seconds=120)))
    with TestClient(create_app(db_ctx.settings, ctx=db_ctx)) as c:
        m = scrape(c)
        assert value(m["docloop_queue_jobs"], kind="export", status="queued") == 2
        assert value(m["docloop_queue_jobs"], kind="train", status="running") == 0
        assert value(m["docloop_queue_oldest_age_seconds"], kind="export", status="queued") >= 120
        with db_ctx.session() as s:
            jobs.enqueue(s, JobKind.EXPORT, {"export_id": "y"}, model_id=None, max_attempts=1)
        # Within metrics_queue_cache_s the database is not read again.
        assert value(scrape(c)["docloop_queue_jobs"], kind="export", status="queued") == 2
    with TestClient(create_app(db_ctx.settings, ctx=db_ctx)) as c:
        assert value(scrape(c)["docloop_queue_jobs"], kind="export", status="queued") == 3


def test_live_workers_per_kind(db_ctx) -> None:  # type: ignore[no-untyped-def]
    worker_registry.beat(db_ctx, "all-kinds", None)
    worker_registry.beat(db_ctx, "light", [JobKind.PREDICT, JobKind.OCR])
    worker_registry.beat(db_ctx, "gone", None)
    with db_ctx.session() as s:
        s.get(WorkerSeen, "gone").last_seen_at = utcnow() - timedelta(hours=1)
    since = utcnow() - timedelta(seconds=db_ctx.settings.job_lease_s)
    with db_ctx.session() as s:
        alive = worker_registry.alive_by_kind(s, since)
    assert alive[JobKind.PREDICT] == 2 and alive[JobKind.TRAIN] == 1
    worker_registry.leave(db_ctx, "all-kinds")
    with db_ctx.session() as s:
        alive = worker_registry.alive_by_kind(s, since)
    assert alive[JobKind.TRAIN] == 0 and alive[JobKind.OCR] == 1


def test_a_running_worker_counts_as_alive_until_it_stops(ctx) -> None:  # type: ignore[no-untyped-def]
    import threading

    from docloop.worker.loop import Worker

    worker = Worker(ctx, "metrics-test-worker")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        with TestClient(create_app(ctx.settings, ctx=ctx)) as c:
            for _ in range(100):
                with ctx.session() as s:
                    if s.get(WorkerSeen, worker.owner) is not None:
                        break
                thread.join(0.05)
            assert value(scrape(c)["docloop_workers_alive"], kind="train") == 1
    finally:
        worker.stop()
        thread.join(10)
    with ctx.session() as s:
        assert s.get(WorkerSeen, worker.owner) is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_metrics_port_serves_its_job_metrics(ctx) -> None:  # type: ignore[no-untyped-def]
    with ctx.session() as s:
        jobs.enqueue(s, JobKind.EXPORT, {"export_id": "missing"}, model_id=None, max_attempts=1)
    run_jobs(ctx)
    port = free_port()
    server = ctx.metrics.serve("127.0.0.1", port)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    m = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert sum(s.value for s in m["docloop_jobs_finished"] if s.labels["kind"] == "export") == 1
    assert "docloop_queue_jobs" not in m  # database figures are the API's


def test_two_apps_in_one_process_keep_their_own_figures(tmp_path: Path) -> None:
    from docloop.services.context import build_context
    from tests.conftest import _ENGINE, make_settings

    contexts = [build_context(make_settings(tmp_path / n), ocr=_ENGINE) for n in "ab"]
    try:
        clients = [
            TestClient(create_app(c.settings, ctx=c), headers=basic("test-admin-key"))
            for c in contexts
        ]
        with clients[0] as first, clients[1] as second:
            first.get("/api/v2/OCR/Models/")
            second.get("/healthz")
            routes = [
                {s.labels["route"] for s in scrape(c)["docloop_http_request_seconds"]}
                for c in (first, second)
            ]
        assert (
            "/api/v2/{family}/Models/" in routes[0] and "/api/v2/{family}/Models/" not in routes[1]
        )
    finally:
        for c in contexts:
            c.close()


# ---- the deploy/ files may only read what docloop exports ----

PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "delta", "histogram_quantile",
    "clamp_min", "clamp_max", "time", "absent", "vector", "topk", "bottomk", "and", "or", "unless",
    "bool", "offset", "le", "on", "ignoring", "by", "without", "group_left", "group_right",
    "sum_over_time", "max_over_time", "avg_over_time", "label_values", "round", "scalar",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (strings, label matchers, ranges, grouping
    clauses and functions removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    tokens = set(re.findall(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return tokens - PROMQL_WORDS


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every sample name docloop's /metrics can show (histogram and counter series included)."""
    from docloop.services.context import build_context
    from tests.conftest import _ENGINE, make_settings

    ctx = build_context(make_settings(tmp_path_factory.mktemp("exported")), ocr=_ENGINE)
    try:
        with TestClient(create_app(ctx.settings, ctx=ctx)) as c:
            families = list(text_string_to_metric_families(c.get("/metrics").text))
    finally:
        ctx.close()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    return {f.name + s for f in families for s in suffixes.get(f.type, [""])}


def expressions(node: object) -> Iterator[str]:
    """Every ``expr`` string anywhere in a JSON or YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                yield v
            else:
                yield from expressions(v)
    elif isinstance(node, list):
        for v in node:
            yield from expressions(v)


def test_alert_rules_read_only_exported_metrics(exported: set[str]) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    listed = [r for g in rules["groups"] for r in g["rules"]]
    names = {r["alert"] for r in listed}
    assert {"DocloopQueueBackingUp", "DocloopErrorRateHigh", "DocloopNoWorkerAlive",
            "DocloopTrainingFailures"} <= names  # fmt: skip
    for rule in listed:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        used = metric_names(rule["expr"])
        assert used and used <= exported, (rule["alert"], used - exported)


def test_dashboard_reads_only_exported_metrics(exported: set[str]) -> None:
    board = json.loads((DEPLOY / "grafana" / "docloop.json").read_text())
    exprs = list(expressions(board))
    assert len(exprs) >= 10
    used = set().union(*map(metric_names, exprs))
    assert used <= exported, used - exported
    for family in ("docloop_http_request_seconds_bucket", "docloop_predictions_total",
                   "docloop_ocr_seconds_bucket", "docloop_inference_seconds_bucket",
                   "docloop_queue_jobs", "docloop_queue_oldest_age_seconds",
                   "docloop_jobs_finished_total", "docloop_workers_alive",
                   "docloop_training_runs_finished_total", "docloop_files_processed",
                   "docloop_files_approved_without_correction"):  # fmt: skip
        assert family in used, family


def test_prometheus_scrapes_api_and_workers_with_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert "alerts.yml" in config["rule_files"]
    jobs_ = {c["job_name"]: c for c in config["scrape_configs"]}
    assert {"docloop-api", "docloop-worker"} <= set(jobs_)
    assert all(c.get("metrics_path", "/metrics") == "/metrics" for c in jobs_.values())


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (kind) (rate(docloop_jobs_finished_total{outcome="failed"}[5m])) / '
        "clamp_min(sum(rate(docloop_http_request_seconds_count[$__rate_interval])), 1e-9)"
    )
    assert metric_names(expr) == {
        "docloop_jobs_finished_total",
        "docloop_http_request_seconds_count",
    }


def test_worker_command_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    """In a process of its own, as it runs: the worker command ends its process at once."""
    import os
    import subprocess
    import sys

    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "docloop.cli", "worker", "--home", str(tmp_path),
         "--max-jobs", "0", "--metrics-port", str(port), "--metrics-host", "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DOCLOOP_OCR_PROCESSES": "false"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"metrics on http://127.0.0.1:{port}/metrics" in result.stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # the server was stopped with the worker
