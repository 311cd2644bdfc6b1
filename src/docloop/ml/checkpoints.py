"""Training state on disk, one file per ensemble member, replaced atomically after each epoch."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


class FileCheckpoints:
    """``train.Checkpoints`` in a folder; a killed process leaves the last epoch's file whole.

    Saves at most every ``every_s`` seconds (a small network's epoch can take a tenth of a
    second, and writing its optimiser state every epoch would cost more than it protects)."""

    def __init__(self, root: Path, every_s: float = 5.0) -> None:
        self.root = root
        self.every_s = every_s
        self._last: dict[int, float] = {}

    def _path(self, member: int) -> Path:
        return self.root / f"member-{member}.pt"

    def load(self, member: int) -> dict[str, Any] | None:
        path = self._path(member)
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, member: int, state: dict[str, Any], *, force: bool = False) -> None:
        """Write ``state`` unless this member was saved less than ``every_s`` ago and not
        ``force`` (a stopping worker forces its last epoch out)."""
        now = time.monotonic()
        if not force and now - self._last.get(member, -self.every_s) < self.every_s:
            return
        self._last[member] = now
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
            os.replace(tmp, self._path(member))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def epochs(self) -> dict[int, int]:
        """The last saved epoch of each member that has a checkpoint."""
        return {
            int(p.stem.split("-")[1]): torch.load(p, map_location="cpu", weights_only=True)["epoch"]
            for p in sorted(self.root.glob("member-*.pt"))
        }

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
