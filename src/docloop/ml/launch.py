"""Data-parallel training in N processes with ``torchrun``, driven from a worker.

The inputs and the result live in one folder (on shared storage for several machines), the
checkpoints in the blob store: each rank reads the inputs, trains its shard, and rank 0 saves
the checkpoints and writes the networks back.
Rank 0 reports progress as JSON lines on stdout, which the worker turns into training progress.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from docloop.cpu_share import usable_cores
from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.checkpoints import CheckpointPlace
from docloop.ml.data import Example, LabelledPage
from docloop.ml.torchrun import torchrun_command
from docloop.ml.train import ProgressFn, TrainConfig

PROGRESS_PREFIX = "DOCLOOP_PROGRESS "
RESULT_FILE = "result.pkl"
# A failed torchrun is started again this many times; its ranks resume from the last saved
# epoch. (torchrun's own --max-restarts left the restarted gloo ranks waiting for each other.)
RELAUNCHES = 2

log = logging.getLogger(__name__)


def train_in_processes(
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    config: TrainConfig,
    *,
    folder: Path,
    processes: int,
    checkpoints: CheckpointPlace,
    extra_args: str = "",
    progress: ProgressFn | None = None,
) -> list[FieldTagger]:
    """Train in ``processes`` ranks and return rank 0's networks.

    The result counts once rank 0 has written it, whatever torchrun's exit code: every rank
    has finished training by then, and a rank has been seen to abort while leaving. Without
    it, torchrun is started again (``RELAUNCHES`` times) and resumes from the checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "inputs.pkl").open("wb") as fh:
        pickle.dump((list(pages), list(examples), list(labels), config, checkpoints), fh)
    (folder / RESULT_FILE).unlink(missing_ok=True)
    command = torchrun_command(folder, processes, extra_args)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, usable_cores() // processes))}
    for attempt in range(RELAUNCHES + 1):
        code, tail = _run(command, env, progress)
        if (folder / RESULT_FILE).exists():
            break
        failure = f"torchrun exited with {code}: " + "\n".join(tail)
        if attempt == RELAUNCHES:
            raise RuntimeError(failure)
        log.warning("%s\nstarting torchrun again (%d of %d)", failure, attempt + 1, RELAUNCHES)
    if code != 0:
        log.warning("torchrun exited with %d after rank 0 wrote the result: %s", code, tail[-1:])
    with (folder / RESULT_FILE).open("rb") as fh:
        networks: list[FieldTagger] = pickle.load(fh)
    return networks


def _run(
    command: list[str], env: dict[str, str], progress: ProgressFn | None
) -> tuple[int, list[str]]:
    """Run torchrun to its end, passing rank 0's progress on; its exit code and last lines."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=80)
    try:
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX):
                if progress is not None:
                    report = json.loads(line[len(PROGRESS_PREFIX) :])
                    progress(report["fraction"], report["info"])
            else:
                tail.append(line.rstrip())
    except BaseException:  # the worker is stopping (or the progress failed): end the ranks
        proc.terminate()  # torchrun passes SIGTERM on to its ranks
        proc.wait()
        raise
    return proc.wait(), list(tail)
