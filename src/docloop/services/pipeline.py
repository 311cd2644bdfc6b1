"""Training as named steps whose outputs are stored under the digest of their inputs.

A step whose inputs were seen before returns the stored output instead of running: a retrain on
unchanged data skips OCR and example building, and a worker that takes over a dead worker's
training skips every finished step (the train step itself resumes from its last epoch). Outputs
are pickled into the blob store; they are written and read only by docloop, never by users.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from docloop import __version__
from docloop.db.tables import StepOutput, TrainingRun
from docloop.services.context import AppContext
from docloop.services.tracking import cpu_seconds

T = TypeVar("T")

# Part of every key: a release that changes what a step computes must not reuse old outputs.
PIPELINE_VERSION = f"{__version__}/28"  # 2: pages carry their content key; 3: transcribed
# pages; 4: words carry their lattices and bundles their rereader; 5: amount features;
# 6: prefixes and detached words in text correction; 7: re-reading scores letters its texts
# never hold (in any case; narrowed in 8); 8: known values keep how often a value is new;
# 9: re-reading takes letters of the texts' other case as context; 10: it cross-validates its
# weights on every field; 11: doubted words are candidates (validation figures); 12: the
# punctuation channel; 13: bundles store their decoding thresholds; 14: the recognizer's tuning
# is a step of its own, and the recognizer step keeps no re-read pages; 15: known values keep
# their words, and look-alike swaps mend separating marks; 16: text correction learns what
# readings glue to a value, and swaps digits only for letters the label writes; 17: re-reading
# scores a hesitation between letters of the texts' other case; 18: a calibration no better than
# the held-out hit rate is left out; 19: nor is a weight that takes an odd box for a right one;
# 20: a mark at a cut goes with the glue, and a format seen a few times can be cut out; 21: so
# can a shorter form of a frequent one, cut off whole; 22: a row the network missed completes a
# field; 23: a field is cut after a word that closes its label's values; 24: an amount's
# rounding twin is chosen by the label's learned endings; 25: a missed row completes a field
# of a rare format its character classes make likely; 26: a doubted line of a two-line field
# goes unless it completes a value of one of the label's shapes; 27: a free-form label drops
# only the marks the engine read as noise on it; 28: a cut's glue fits where it starts or ends
# with a glued shape holding a mark


def digest(value: Any) -> str:
    """A stable digest of JSON-able inputs (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Pipeline:
    """Runs steps for one training run and records each (cached or not, how long) on the run."""

    def __init__(self, ctx: AppContext, run_id: str) -> None:
        self.ctx = ctx
        self.run_id = run_id
        # Steps may run on two threads at once (the recognizer's tuning beside the network's
        # training); each adds itself to the run's list of steps, a read and a write.
        self._recording = threading.Lock()

    def step(self, name: str, inputs: Sequence[Any], compute: Callable[[str], T]) -> tuple[T, str]:
        """The step's output and its key; ``compute`` gets the key (for its scratch space)."""
        key = digest([PIPELINE_VERSION, name, *inputs])
        started, cpu = time.time(), cpu_seconds()
        with self.ctx.session() as s:
            stored = s.get(StepOutput, key)
            blob = stored.blob_hash if stored is not None else None
        if blob is not None and self.ctx.blobs.exists(blob):
            value: T = pickle.loads(self.ctx.blobs.get(blob))
            self._record(
                name, key, cached=True, seconds=time.time() - started, cpu_seconds=_since(cpu)
            )
            return value, key
        value = compute(key)
        blob = self.ctx.blobs.put(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            with self.ctx.session() as s:
                s.merge(StepOutput(key=key, step=name, blob_hash=blob))
        except IntegrityError:
            pass  # another run stored the same output first; it is identical
        self._record(
            name, key, cached=False, seconds=time.time() - started, cpu_seconds=_since(cpu)
        )
        return value, key

    def record(self, name: str, key: str, *, cached: bool, seconds: float, **info: Any) -> None:
        """Record a step that keeps its output elsewhere (a database row)."""
        self._record(name, key, cached=cached, seconds=seconds, **info)

    def _record(self, name: str, key: str, *, cached: bool, seconds: float, **info: Any) -> None:
        entry = {"name": name, "key": key, "cached": cached, "seconds": round(seconds, 2), **info}
        with self._recording, self.ctx.session() as s:
            run = s.get(TrainingRun, self.run_id)
            if run is not None:
                run.steps = [*run.steps, entry]

    def scratch(self, key: str) -> Path:
        """A local folder for a step's working files (torchrun's inputs and result), kept until
        the step finishes; what a resuming worker needs (checkpoints) lives in the store."""
        return self.ctx.settings.home / "pipeline" / key[:32]


def _since(cpu: float) -> float:
    """CPU seconds of the process (every thread, so concurrent jobs' too) and its finished
    children since ``cpu``: unlike wall seconds, they do not grow when other work shares the
    cores."""
    return round(cpu_seconds() - cpu, 2)
