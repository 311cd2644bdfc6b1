"""Val figures after training on 10, 25, 50, 100 and all training files, with and without
synthetic pages (``TrainConfig.synthetic``), in this process, scored as ``eval_api.py`` scores.

The subsets are nested prefixes of the training split in a seeded shuffle (one set of subsets
per ``--seeds`` value), so a larger one holds every file of a smaller one, and both rows of a
size and seed train on the same files. Training is the server's (``fit`` with ``epochs_for``),
over docloop's OCR cached as in ``quality_table.py``. Each row is printed and appended to
``--rows`` (JSON lines) when it finishes; rows already there are not trained again, so a
stopped run resumes. ``learning_curve_plot.py`` turns the rows into the docs' table and plot.
On a CPU other work shares, ``OMP_NUM_THREADS=1`` keeps PyTorch's threads from waiting on each
other (beside other jobs, a 25-file training of three networks took 439 s with PyTorch's default
two threads; with one thread, 6 s a network).

    OMP_NUM_THREADS=1 python benchmarks/learning_curve.py --data ../shared/datasets/plates \
        --normalize alnum --ignore-extra ../shared/datasets/plates/multi_plate.txt \
        --seeds 0 1 2 --rows plates.jsonl
    OMP_NUM_THREADS=1 python benchmarks/learning_curve.py --data ../shared/datasets/receipts \
        --normalize nospace --seeds 0 1 2 --rows receipts.jsonl
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from quality_table import dataset_arguments, labelled_pages, load_eval_tool, predict_all, read_ocr

from docloop.ml.infer import FieldPredictor
from docloop.ml.train import TrainConfig, fit
from docloop.services.training import epochs_for

SIZES = ("10", "25", "50", "100", "all")


def main() -> None:
    ap = dataset_arguments(__doc__.split("\n")[0])
    ap.add_argument("--rows", type=Path, required=True, help="JSON lines, appended to")
    ap.add_argument("--synthetic", type=float, default=0.5, help="the share for 'with' rows")
    ap.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="shuffles, one set of subsets each"
    )
    ap.add_argument("--sizes", nargs="+", default=SIZES, help="numbers of files, or all")
    ap.add_argument("--members", type=int, help="networks per model (default: as the server)")
    args = ap.parse_args()

    tool = load_eval_tool(args.eval_tool)
    train_ids, val_ids = tool.load_split(args.data, "train"), tool.load_split(args.data, "val")
    ignore = frozenset(args.ignore_extra.read_text().split()) if args.ignore_extra else frozenset()
    norm = tool.normalizer(args.normalize)
    ocr = read_ocr(args, train_ids + val_ids, tool)
    truth = {i: tool.annotations(args.data, i) for i in val_ids}
    labels = sorted({o["name"] for objs in truth.values() for o in objs})
    done = {
        (r["files"], r["synthetic"], r["seed"])
        for r in map(json.loads, args.rows.read_text().splitlines() if args.rows.exists() else [])
        if r["data"] == args.data.name
    }
    n = len(train_ids)
    for size in sorted({n if s == "all" else min(int(s), n) for s in args.sizes}):
        # Every shuffle's whole split is the same files: trained once.
        for seed in args.seeds if size < n else args.seeds[:1]:
            order = [train_ids[i] for i in np.random.default_rng(seed).permutation(n)]
            pages = labelled_pages(args.data, order[:size], ocr, tool)
            for share in (0.0, args.synthetic):
                if (size, share, seed) in done:
                    continue
                config = TrainConfig(
                    epochs=epochs_for(len(pages), 60), members=args.members, synthetic=share
                )
                started = time.time()
                bundle = fit(pages, labels, config)
                assert bundle is not None
                seconds = time.time() - started
                preds = predict_all(FieldPredictor(bundle).predict, args.data, val_ids, ocr, tool)
                report = tool.score(preds, truth, norm, ignore)
                row: dict[str, Any] = {
                    "data": args.data.name,
                    "files": size,
                    "seed": seed,
                    "synthetic": share,
                    "members": bundle.metrics["members"],
                    "mean_ap50": report["mean_ap50"],
                    "micro_text_f1": report["micro_text_f1"],
                    "per_label": {k: report["per_label"][k]["text_f1"] for k in labels},
                    "train_s": round(seconds),
                }
                print(json.dumps(row), flush=True)
                with args.rows.open("a") as out:
                    out.write(json.dumps(row) + "\n")
    print(f"{args.data.name}: done", file=sys.stderr)


if __name__ == "__main__":
    main()
