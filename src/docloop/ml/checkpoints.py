"""Training state in the blob store, one named object per ensemble member, replaced whole
after an epoch, so a worker on any machine resumes a training another worker started."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import torch

from docloop.storage import BlobStore, StoreOptions, open_store


class StoreCheckpoints:
    """``train.Checkpoints`` under the named-object prefix ``name``; a killed process leaves
    the last saved epoch whole (each save replaces the object in one step).

    Saves at most every ``every_s`` seconds (a small network's epoch can take a tenth of a
    second, and writing its optimiser state every epoch would cost more than it protects)."""

    def __init__(self, store: BlobStore, name: str, every_s: float = 5.0) -> None:
        self.store = store
        self.name = name
        self.every_s = every_s
        self._last: dict[int, float] = {}

    def _member(self, member: int) -> str:
        return f"{self.name}/member-{member}.pt"

    @staticmethod
    def _decode(data: bytes) -> dict[str, Any]:
        state: dict[str, Any] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return state

    def load(self, member: int) -> dict[str, Any] | None:
        data = self.store.get_named(self._member(member))
        return None if data is None else self._decode(data)

    def save(self, member: int, state: dict[str, Any], *, force: bool = False) -> None:
        """Write ``state`` unless this member was saved less than ``every_s`` ago and not
        ``force`` (a stopping worker forces its last epoch out)."""
        now = time.monotonic()
        if not force and now - self._last.get(member, -self.every_s) < self.every_s:
            return
        self._last[member] = now
        buf = io.BytesIO()
        torch.save(state, buf)
        self.store.put_named(self._member(member), buf.getvalue())

    def epochs(self) -> dict[int, int]:
        """The last saved epoch of each member that has a checkpoint."""
        found = {}
        for name in self.store.list_named(self.name):
            stem = name.rsplit("/", 1)[-1].removesuffix(".pt")
            data = self.store.get_named(name)
            if stem.startswith("member-") and data is not None:
                found[int(stem.split("-")[1])] = self._decode(data)["epoch"]
        return found

    def clear(self) -> None:
        self.store.delete_named(self.name)


@dataclass(frozen=True)
class CheckpointPlace:
    """Where a training's checkpoints live, in a form that travels to torchrun's ranks."""

    storage_url: str
    endpoint_url: str | None
    name: str
    every_s: float

    def open(self) -> StoreCheckpoints:
        store = open_store(self.storage_url, StoreOptions(endpoint_url=self.endpoint_url))
        return StoreCheckpoints(store, self.name, self.every_s)
