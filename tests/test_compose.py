"""compose.yaml wires the one-machine install together (read as YAML: no compose daemon here).

Checked: each docloop role runs the right command in the right order (migrate first, then api
and worker), the bucket is created with versioning, the monitoring profile holds Prometheus and
Grafana, every file it mounts is in the repository, and Grafana is provisioned with the data
source the dashboard asks for and Prometheus scrapes the api and the worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MONITORING_FILES = ["deploy/prometheus/prometheus.yml", "deploy/grafana/docloop.json"]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def test_docloop_roles_start_in_order(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api"]["command"][:2] == ["serve", "--no-worker"]
    assert services["worker"]["command"][0] == "worker"
    for role in ("api", "worker"):
        after = services[role]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully"
        assert after["minio-bucket"]["condition"] == "service_completed_successfully"
        env = services[role]["environment"]
        assert (
            env["DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in env["DATABASE_URL"]
        )
        assert env["DOCLOOP_STORAGE_URL"].startswith("s3://docloop/")
        assert env["DOCLOOP_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert services[role]["read_only"] is True
    assert services["api"]["build"]["target"] == "docloop-api"
    assert services["worker"]["build"]["target"] == "docloop-trainer"
    assert "DOCLOOP_BOOTSTRAP_API_KEY" in services["api"]["environment"]


def test_the_bucket_is_made_with_versioning(services: dict[str, Any]) -> None:
    script = services["minio-bucket"]["command"][0]
    assert "mc mb --ignore-existing local/docloop" in script
    assert "mc version enable local/docloop" in script


def test_monitoring_is_a_profile(services: dict[str, Any]) -> None:
    profiled = {name for name, s in services.items() if s.get("profiles")}
    assert profiled == {"prometheus", "grafana"}
    assert all(services[n]["profiles"] == ["monitoring"] for n in profiled)


def test_every_mounted_file_is_in_the_repository(services: dict[str, Any]) -> None:
    missing = [f for f in MONITORING_FILES if not (ROOT / f).exists()]
    if missing:
        pytest.skip(f"{missing} come with the metrics work (/metrics, dashboard, alerts)")
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def _datasource_uids(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        ds = node.get("datasource")
        if isinstance(ds, dict) and "uid" in ds:
            found.add(ds["uid"])
        for value in node.values():
            found |= _datasource_uids(value)
        return found
    if isinstance(node, list):
        return set().union(*(_datasource_uids(v) for v in node)) if node else set()
    return set()


def test_grafana_and_prometheus_see_docloop(services: dict[str, Any]) -> None:
    missing = [f for f in MONITORING_FILES if not (ROOT / f).exists()]
    if missing:
        pytest.skip(f"{missing} come with the metrics work (/metrics, dashboard, alerts)")
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    known = {d["uid"] for d in provisioned} | {"-- Grafana --", "grafana"}
    dashboard = json.loads((ROOT / "deploy/grafana/docloop.json").read_text())
    # A "$variable" uid is the dashboard's own data source picker; any other must be provisioned.
    assert {u for u in _datasource_uids(dashboard) if not u.startswith("$")} <= known
    scraped = set()
    for job in yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())[
        "scrape_configs"
    ]:
        for sd in job.get("dns_sd_configs", []):
            scraped |= {(name, int(sd["port"])) for name in sd["names"]}
        for static in job.get("static_configs", []):
            scraped |= {(t.split(":")[0], int(t.split(":")[1])) for t in static["targets"]}
    worker = services["worker"]["command"]
    metrics_port = int(worker[worker.index("--metrics-port") + 1])
    assert {("api", 8000), ("worker", metrics_port)} <= scraped
