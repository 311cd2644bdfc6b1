"""Training state on disk, one file per ensemble member, replaced atomically after each epoch."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch


class FileCheckpoints:
    """``train.Checkpoints`` in a folder; a killed process leaves the last epoch's file whole."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, member: int) -> Path:
        return self.root / f"member-{member}.pt"

    def load(self, member: int) -> dict[str, Any] | None:
        path = self._path(member)
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, member: int, state: dict[str, Any]) -> None:
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
