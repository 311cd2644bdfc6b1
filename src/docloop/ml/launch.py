"""Data-parallel training in N processes with ``torchrun``, driven from a worker.

The inputs, the checkpoints and the result live in one folder (on shared storage for several
machines): each rank reads the inputs, trains its shard, and rank 0 writes the networks back.
Rank 0 reports progress as JSON lines on stdout, which the worker turns into training progress.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.data import Example, LabelledPage
from docloop.ml.train import ProgressFn, TrainConfig

PROGRESS_PREFIX = "DOCLOOP_PROGRESS "


def torchrun_command(folder: Path, processes: int, extra_args: str = "") -> list[str]:
    """The command that trains ``folder``'s inputs; other machines run it with their own rank.

    Without rendezvous arguments it is a single-machine (``--standalone``) run."""
    extra = shlex.split(extra_args)
    where = (
        []
        if any(a.startswith("--rdzv") or a.startswith("--nnodes") for a in extra)
        else ["--standalone"]
    )
    return [
        sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}",
        *where, *extra, "-m", "docloop.ml.ddp_worker", str(folder),
    ]  # fmt: skip


def train_in_processes(
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    config: TrainConfig,
    *,
    folder: Path,
    processes: int,
    extra_args: str = "",
    progress: ProgressFn | None = None,
) -> list[FieldTagger]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "inputs.pkl").open("wb") as fh:
        pickle.dump((list(pages), list(examples), list(labels), config), fh)
    (folder / "result.pkl").unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
    proc = subprocess.Popen(
        torchrun_command(folder, processes, extra_args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=80)
    for line in proc.stdout:
        if line.startswith(PROGRESS_PREFIX):
            if progress is not None:
                report = json.loads(line[len(PROGRESS_PREFIX) :])
                progress(report["fraction"], report["info"])
        else:
            tail.append(line.rstrip())
    if proc.wait() != 0:
        raise RuntimeError(f"torchrun exited with {proc.returncode}: " + "\n".join(tail))
    with (folder / "result.pkl").open("rb") as fh:
        networks: list[FieldTagger] = pickle.load(fh)
    return networks
