"""The Kubernetes manifest of a multi-node training: an Indexed Job running ``torchrun``.

Every pod runs the same ``torchrun`` as the worker's own (``torchrun.torchrun_command``) with
c10d rendezvous on pod 0, found through a headless Service. The worker that owns the training
joins the rendezvous as one more node, so it receives the result and registers the model as
for a one-machine training. The template ships in the package (``templates/``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jinja2 import Environment, PackageLoader, StrictUndefined

from docloop.errors import InvalidInput
from docloop.ml.torchrun import torchrun_command

RENDEZVOUS_PORT = 29400
# A DNS-1035 label: the Service's name, and the pods' host names derive from it.
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,40}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


@dataclass(frozen=True)
class TrainingJobSpec:
    """What one multi-node training needs from the cluster."""

    folder: PurePosixPath  # the training folder, as the worker logs it
    image: str  # the docloop-trainer image
    claim: str  # the ReadWriteMany PersistentVolumeClaim holding ``mount``
    mount: PurePosixPath  # where the claim is mounted, in the worker and in the Job's pods
    nodes: int = 2  # pods in the Job; the worker is one more node
    processes: int = 1  # torchrun processes per node
    name: str = "docloop-training"
    namespace: str = "docloop"
    cpu: str = "4"
    memory: str = "8Gi"


def rendezvous_args(spec: TrainingJobSpec) -> str:
    """The torchrun arguments shared by the Job's pods and the worker (one node more)."""
    host = f"{spec.name}-0.{spec.name}.{spec.namespace}.svc"
    return (
        f"--nnodes={spec.nodes + 1} --rdzv-backend=c10d "
        f"--rdzv-endpoint={host}:{RENDEZVOUS_PORT} --rdzv-id={spec.name}"
    )


def _check(spec: TrainingJobSpec) -> None:
    """Refuse what would render a manifest the cluster rejects, with the reason."""
    for what, value in (("name", spec.name), ("namespace", spec.namespace)):
        if not _NAME.match(value):
            raise InvalidInput(f"{what} {value!r} is not a DNS label (a-z, 0-9, '-', 42 at most)")
    if spec.nodes < 1 or spec.processes < 1:
        raise InvalidInput("nodes and processes must be at least 1")
    if not spec.folder.is_absolute() or not spec.mount.is_absolute():
        raise InvalidInput("the folder and the mount path must be absolute")
    if spec.mount not in spec.folder.parents:
        raise InvalidInput(f"the folder {spec.folder} is not under the claim's mount {spec.mount}")
    for what, value in (("cpu", spec.cpu), ("memory", spec.memory)):
        if not _QUANTITY.match(value):
            raise InvalidInput(f"{what} {value!r} is not a Kubernetes quantity")


def render_training_job(spec: TrainingJobSpec) -> str:
    """The headless Service and the Indexed Job of ``spec``, as one YAML stream."""
    _check(spec)
    command = torchrun_command(
        Path(spec.folder), spec.processes, rendezvous_args(spec), python="python3"
    )
    labels = {
        "app.kubernetes.io/name": "docloop-training",
        "app.kubernetes.io/part-of": "docloop",
        "docloop.io/training": spec.name,
    }
    env = Environment(
        loader=PackageLoader("docloop.ml", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML: every value goes through tojson
    )
    cpus = max(1, int(float(spec.cpu.rstrip("m")) / (1000 if spec.cpu.endswith("m") else 1)))
    return env.get_template("training-job.yaml.j2").render(
        name=spec.name,
        namespace=spec.namespace,
        labels=labels,
        selector={"docloop.io/training": spec.name},
        port=RENDEZVOUS_PORT,
        nodes=spec.nodes,
        processes=spec.processes,
        image=spec.image,
        command=command,
        threads=max(1, cpus // spec.processes),
        resources={"cpu": spec.cpu, "memory": spec.memory},
        claim=spec.claim,
        mount=str(spec.mount),
        folder=str(spec.folder),
        worker_args=rendezvous_args(spec),
    )
