"""Data-parallel training: two processes (gloo, CPU) train one model; rank 0 returns it.

An uneven page count checks that every rank takes the same number of steps (otherwise the
gradient all-reduce waits forever, which this test would see as a timeout).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.checkpoints import CheckpointPlace
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


def _worker(rank: int, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=2)
    torch.set_num_threads(1)
    try:
        config = TrainConfig(epochs=4, batch_pages=4, members=1, recuts=0, dim=32, layers=1)
        bundle = fit(_pages(), ["total"], config)
        assert (bundle is None) == (rank != 0)
        if bundle is not None:
            Path(out).write_bytes(bundle.to_bytes())
        # As ``ddp_worker`` does: no rank leaves while the other may still talk to it, and the
        # interpreter's teardown is skipped, where gloo's threads once aborted rank 1 of this
        # test ("terminate called without an active exception") after its work was done.
        dist.barrier()
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def test_two_processes_train_one_model(tmp_path: Path) -> None:
    # A file rendezvous, not a TCP port picked and released first: another process could take
    # that port before gloo binds it (this test once failed that way in a full run).
    rendezvous = f"file://{tmp_path / 'rendezvous'}"
    out = tmp_path / "bundle.zip"
    procs = mp.spawn(_worker, args=(rendezvous, str(out)), nprocs=2, join=False)
    deadline = time.monotonic() + 300
    while not procs.join(timeout=5):
        if time.monotonic() > deadline:
            for p in procs.processes:
                p.kill()
            pytest.fail("distributed training did not finish in 300 s (ranks out of step?)")
    from docloop.ml.bundle import FieldModelBundle

    bundle = FieldModelBundle.from_bytes(out.read_bytes())
    assert bundle.labels == ["total"] and bundle.metrics["members"] == 1


def _synthetic(n: int) -> list[LabelledPage]:
    """Receipt-like pages: the total follows the word TOTAL, other amounts are distractors."""
    rng = np.random.default_rng(1)
    pages = []
    for i in range(n):
        y = float(rng.uniform(40, 150))
        other = float(rng.uniform(10, 30))
        words = [
            OcrToken("TEA", Box(10, other, 40, other + 10), 1.0, 0),
            OcrToken(f"{rng.integers(1, 9)}.20", Box(120, other, 150, other + 10), 1.0, 0),
            OcrToken("TOTAL", Box(10, y, 60, y + 10), 1.0, 1),
            OcrToken(f"{i}.50", Box(120, y, 150, y + 10), 1.0, 1),
        ]
        ann = Annotation("total", Box(120, y, 150, y + 10), f"{i}.50")
        pages.append(LabelledPage(words, 200, 200, [ann]))
    return pages


def _checkpoints(tmp_path: Path, every_s: float = 5.0) -> CheckpointPlace:
    """Checkpoints in a local store beside the run's folder."""
    return CheckpointPlace((tmp_path / "store").as_uri(), None, "train/test", every_s)


def test_torchrun_with_two_processes_matches_one_process(tmp_path: Path) -> None:
    """The worker's N-process path (torchrun, gloo) learns as well as one process."""
    from docloop.ml.launch import train_in_processes
    from docloop.ml.train import build_examples, evaluate_members, train_members

    pages = _synthetic(60)
    examples = build_examples(pages, ["total"])
    config = TrainConfig(epochs=25, batch_pages=4, members=1, recuts=0, dim=32, layers=1)
    seen: list[float] = []
    two = train_in_processes(
        pages, examples, ["total"], config, folder=tmp_path, processes=2,
        checkpoints=_checkpoints(tmp_path), progress=lambda f, _info: seen.append(f),
    )  # fmt: skip
    one = train_members(pages, examples, ["total"], config)
    a = evaluate_members(pages, examples, ["total"], one, config)["val_text_accuracy"]
    b = evaluate_members(pages, examples, ["total"], two, config)["val_text_accuracy"]
    print(f"val text accuracy: 1 process {a}, 2 processes {b}")
    assert a >= 0.8 and b >= 0.8 and abs(a - b) <= 0.2, (a, b)
    assert seen and seen[-1] == 1.0, "rank 0 reports progress through the launcher"


def test_a_rank_killed_mid_training_is_restarted_and_resumes(tmp_path: Path) -> None:
    """torchrun is started again; both ranks resume from the saved epoch, not from zero."""
    import signal

    import psutil

    from docloop.ml.launch import train_in_processes
    from docloop.ml.train import build_examples

    pages = _synthetic(40)
    examples = build_examples(pages, ["total"])
    config = TrainConfig(epochs=6, batch_pages=4, members=1, recuts=0, dim=32, layers=1)
    epochs: list[int] = []
    killed: list[int] = []

    def progress(_fraction: float, info: dict) -> None:
        epochs.append(info["epoch"])
        if info["epoch"] == 2 and not killed:
            ranks = [
                p
                for p in psutil.Process().children(recursive=True)
                if "docloop.ml.ddp_worker" in p.cmdline()
                and "torch.distributed.run" not in p.cmdline()
            ]
            assert len(ranks) == 2, [p.cmdline() for p in ranks]
            ranks[-1].send_signal(signal.SIGKILL)
            killed.append(ranks[-1].pid)

    networks = train_in_processes(
        pages, examples, ["total"], config, folder=tmp_path, processes=2,
        checkpoints=_checkpoints(tmp_path, every_s=0), progress=progress,  # every epoch
    )  # fmt: skip
    assert killed and len(networks) == 1
    assert epochs[0] == 1 and epochs.count(1) == 1, f"resumed from the checkpoint: {epochs}"
    assert epochs[-1] == config.epochs


def test_a_rank_that_aborts_after_the_result_was_written_does_not_fail_the_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As CI once saw: rank 1 aborted while leaving, after rank 0 had written the networks."""
    import sys

    from docloop.ml import launch

    leaves_badly = tmp_path / "leaves_badly.py"
    leaves_badly.write_text(
        "import json, os, pickle, sys\n"
        "from pathlib import Path\n"
        "info = json.dumps({'fraction': 1.0, 'info': {}})\n"
        f"print({launch.PROGRESS_PREFIX!r} + info, flush=True)\n"
        "(Path(sys.argv[1]) / 'result.pkl').write_bytes(pickle.dumps(['networks']))\n"
        "os.abort()\n"
    )
    monkeypatch.setattr(
        launch, "torchrun_command", lambda folder, *_: [sys.executable, str(leaves_badly), folder]
    )
    seen: list[float] = []
    networks = launch.train_in_processes(
        _synthetic(2), [], ["total"], TrainConfig(), folder=tmp_path, processes=2,
        checkpoints=_checkpoints(tmp_path), progress=lambda f, _info: seen.append(f),
    )  # fmt: skip
    assert networks == ["networks"] and seen == [1.0]


@pytest.mark.slow
def test_the_worker_setting_trains_with_torchrun(tmp_path: Path) -> None:
    from docloop.services import auth, models, runs, training
    from docloop.services.context import build_context
    from tests.conftest import _ENGINE, make_settings, run_jobs, upload_samples

    ctx = build_context(make_settings(tmp_path / "home", train_processes=2), ocr=_ENGINE)
    who = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, who, categories=["number_plate"])
    upload_samples(ctx, who, model.id, 10)
    training.request_training(ctx, who, model.id)
    run_jobs(ctx)
    assert models.get_model(ctx, who, model.id).version == 1
    [run] = runs.list_runs(ctx, who, model.id)
    assert runs.show_run(ctx, who, run.id).params["processes"] == "2"
    ctx.close()
