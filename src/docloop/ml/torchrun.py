"""The ``torchrun`` command line of a training, without importing PyTorch.

The worker runs it (``launch``) and the Kubernetes training Job runs it in every pod
(``k8s_training``); rendering that Job must work where PyTorch is not installed."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def torchrun_command(
    folder: Path, processes: int, extra_args: str = "", *, python: str = sys.executable
) -> list[str]:
    """The command that trains ``folder``'s inputs; other machines run it with their own rank.

    Without rendezvous arguments it is a single-machine (``--standalone``) run. ``python`` is
    the interpreter on the machine that runs it (another container's, for a Kubernetes Job)."""
    extra = shlex.split(extra_args)
    where = (
        []
        if any(a.startswith("--rdzv") or a.startswith("--nnodes") for a in extra)
        else ["--standalone"]
    )
    return [
        python, "-m", "torch.distributed.run", f"--nproc-per-node={processes}",
        *where, *extra, "-m", "docloop.ml.ddp_worker", str(folder),
    ]  # fmt: skip
