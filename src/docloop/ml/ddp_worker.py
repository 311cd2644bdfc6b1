"""One rank of a torchrun training (see ``launch``): ``python -m docloop.ml.ddp_worker FOLDER``."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from docloop.ml.launch import PROGRESS_PREFIX, RESULT_FILE
from docloop.ml.train import train_members


def main(folder: Path) -> None:
    """Train this rank's shard, from the last saved epoch; rank 0 writes ``RESULT_FILE``."""
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        with (folder / "inputs.pkl").open("rb") as fh:
            pages, examples, labels, config, place = pickle.load(fh)

        def progress(fraction: float, info: dict[str, Any]) -> None:
            print(PROGRESS_PREFIX + json.dumps({"fraction": fraction, "info": info}), flush=True)

        networks = train_members(pages, examples, labels, config, progress, place.open())
        if dist.get_rank() == 0:
            tmp = folder / (RESULT_FILE + ".tmp")
            with tmp.open("wb") as fh:
                pickle.dump(networks, fh)
            os.replace(tmp, folder / RESULT_FILE)
        # No rank leaves while another may still talk to it: a peer that exits mid-exchange
        # aborts the other rank (gloo raises in its I/O thread).
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    # Skip the interpreter's teardown: the collective library's threads have once aborted a
    # finished rank there ("terminate called without an active exception"), failing a
    # training whose result was already written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
