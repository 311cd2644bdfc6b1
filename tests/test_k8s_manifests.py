"""deploy/k8s renders with kustomize and every document validates offline.

Kubernetes' own kinds are checked with ``kubernetes-validate --strict`` (its bundled OpenAPI
schemas). KEDA's kinds are not in those schemas: they are checked against the schema below,
written from KEDA's v1alpha1 CRDs for the fields docloop uses (unknown fields rejected), and
their references to the Deployments and the Secret are followed. CI relies on the machine's
kubectl for ``kubectl kustomize``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from docloop.config import Settings
from docloop.errors import InvalidInput
from docloop.ml.k8s_training import TrainingJobSpec, render_training_job, rendezvous_args

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
OVERLAYS = ["dev", "production"]
# The Secret production creates outside git (docs/deploy.md); dev generates it.
EXTERNAL_SECRETS = {"production": {"docloop-secrets"}, "dev": set()}

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
}
KEDA_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"type": "string"},
                            "apiVersion": {"type": "string"},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"type": "string"},
                                "name": {"type": "string"},
                                "metadata": _STRING_MAP,
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            },
        },
    },
}
# The postgresql scaler's settings (KEDA docs): a query and the value one replica absorbs.
POSTGRES_TRIGGER = {"query", "targetQueryValue", "activationTargetQueryValue"}


def _kustomize(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it renders the kustomize overlays")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _validate(doc: dict[str, Any]) -> None:
    """Strict OpenAPI validation; a kind without a schema fails, it is never skipped."""
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def _pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_document_of_the_overlay_validates(overlay: str) -> None:
    docs = _kustomize(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Job", "Service", "Ingress", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"} <= kinds
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            jsonschema.validate(doc, KEDA_SCHEMAS[doc["kind"]])
        else:
            _validate(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_point_at_what_the_overlay_renders(overlay: str) -> None:
    docs = _kustomize(overlay)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    secrets = {n for k, n in names if k == "Secret"} | EXTERNAL_SECRETS[overlay]
    scaled = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "ScaledObject"}
    assert set(scaled) == {"docloop-worker-ocr", "docloop-worker-train"}
    assert scaled["docloop-worker-train"]["minReplicaCount"] == 0
    for spec in scaled.values():
        assert ("Deployment", spec["scaleTargetRef"]["name"]) in names
        for trigger in spec["triggers"]:
            assert trigger["type"] == "postgresql"
            assert set(trigger["metadata"]) == POSTGRES_TRIGGER
            assert "FROM jobs" in trigger["metadata"]["query"]
            assert ("TriggerAuthentication", trigger["authenticationRef"]["name"]) in names
    for doc in docs:
        if doc["kind"] == "TriggerAuthentication":
            assert {ref["name"] for ref in doc["spec"]["secretTargetRef"]} <= secrets
        if doc["kind"] == "HorizontalPodAutoscaler":
            assert ("Deployment", doc["spec"]["scaleTargetRef"]["name"]) in names
    for _, pod in _pods(docs):
        for c in pod["containers"]:
            refs = {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
            assert refs <= secrets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_restricted_sized_and_probed(overlay: str) -> None:
    docs = _kustomize(overlay)
    for name, pod in _pods(docs):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        mounts = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
            homes = {m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/var/lib/docloop"}
            assert homes <= mounts and homes, name
    api = next(p for n, p in _pods(docs) if n == "docloop-api")["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["args"][:2] == ["serve", "--no-worker"]
    queues = {n: p["containers"][0]["args"] for n, p in _pods(docs)}
    assert queues["docloop-worker-train"][:3] == ["worker", "--queues", "train"]
    assert "train" not in queues["docloop-worker-ocr"][2].split(",")
    assert queues["docloop-migrate"] == ["migrate"]


def _spec(**kw: Any) -> TrainingJobSpec:
    base: dict[str, Any] = {
        "folder": PurePosixPath("/var/lib/docloop/pipeline/train/0123abcd"),
        "image": "ghcr.io/docloop/docloop-trainer:0.1.0",
        "claim": "docloop-training",
        "mount": PurePosixPath("/var/lib/docloop"),
        "nodes": 3,
        "processes": 2,
    }
    return TrainingJobSpec(**{**base, **kw})


def test_the_training_job_validates_and_joins_the_workers_rendezvous() -> None:
    spec = _spec()
    docs = [d for d in yaml.safe_load_all(render_training_job(spec)) if d]
    assert [d["kind"] for d in docs] == ["Service", "Job"]
    for doc in docs:
        _validate(doc)
    service, job = docs
    assert service["spec"]["clusterIP"] == "None"
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    command = pod["containers"][0]["command"]
    assert command[:3] == ["python3", "-m", "torch.distributed.run"]
    assert " ".join(command).count(rendezvous_args(spec)) == 1
    assert "--nnodes=4" in command and "--rdzv-backend=c10d" in command
    assert command[-1] == str(spec.folder)
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": "Docloop_Training"}, "not a DNS label"),
        ({"mount": PurePosixPath("/srv/shared")}, "not under the claim's mount"),
        ({"memory": "8 gigabytes"}, "not a Kubernetes quantity"),
        ({"nodes": 0}, "at least 1"),
    ],
)
def test_a_training_job_that_the_cluster_would_reject_is_refused(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        render_training_job(_spec(**change))


def test_the_cli_prints_the_training_job_or_says_why_not() -> None:
    from typer.testing import CliRunner

    from docloop.cli import app

    args = ["k8s", "training-job", "--image", "docloop-trainer:0.1.0", "--claim", "training"]
    ok = CliRunner().invoke(app, [*args, "--folder", "/data/train/1", "--mount", "/data"])
    assert ok.exit_code == 0, ok.output
    assert [d["kind"] for d in yaml.safe_load_all(ok.output) if d] == ["Service", "Job"]
    bad = CliRunner().invoke(app, [*args, "--folder", "/elsewhere/1", "--mount", "/data"])
    assert bad.exit_code == 2 and "not under the claim's mount" in bad.output


def _cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_train_worker_asks_for_the_cores_its_training_uses(overlay: str) -> None:
    """The scheduler reserves what a pod requests: a request above the PyTorch threads a
    training runs holds cores no work uses, one below them lets the threads wait on a neighbour."""
    pod = next(p for n, p in _pods(_kustomize(overlay)) if n == "docloop-worker-train")
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    threads = int(env.get("DOCLOOP_TRAIN_THREADS", Settings.model_fields["train_threads"].default))
    assert threads > 0, "a pod's threads are counted from its quota only when set"
    assert _cores(container["resources"]["requests"]["cpu"]) == threads
    assert _cores(container["resources"]["limits"]["cpu"]) >= threads
