"""Data-parallel training: two processes (gloo, CPU) train one model; rank 0 returns it.

An uneven page count checks that every rank takes the same number of steps (otherwise the
gradient all-reduce waits forever, which this test would see as a timeout).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.data import LabelledPage
from docloop.ml.train import TrainConfig, fit


def _pages() -> list[LabelledPage]:
    rng = np.random.default_rng(0)
    pages = []
    for i in range(25):
        y = float(rng.uniform(10, 80))
        words = [
            OcrToken("TOTAL", Box(10, y, 60, y + 10), 1.0, 0),
            OcrToken(f"{i}.50", Box(70, y, 110, y + 10), 1.0, 0),
            OcrToken("THANK", Box(10, 150, 60, 160), 1.0, 1),
        ]
        pages.append(
            LabelledPage(words, 200, 200, [Annotation("total", Box(70, y, 110, y + 10), f"{i}.50")])
        )
    return pages


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    try:
        config = TrainConfig(epochs=4, batch_pages=4, members=1, recuts=0, dim=32, layers=1)
        bundle = fit(_pages(), ["total"], config)
        assert (bundle is None) == (rank != 0)
        if bundle is not None:
            Path(out).write_bytes(bundle.to_bytes())
    finally:
        dist.destroy_process_group()


def test_two_processes_train_one_model(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "bundle.zip"
    procs = mp.spawn(_worker, args=(port, str(out)), nprocs=2, join=False)
    deadline = time.monotonic() + 300
    while not procs.join(timeout=5):
        if time.monotonic() > deadline:
            for p in procs.processes:
                p.kill()
            pytest.fail("distributed training did not finish in 300 s (ranks out of step?)")
    from docloop.ml.bundle import FieldModelBundle

    bundle = FieldModelBundle.from_bytes(out.read_bytes())
    assert bundle.labels == ["total"] and bundle.metrics["members"] == 1
