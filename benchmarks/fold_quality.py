"""docloop's figures on held-out folds of the training split: how much one val figure can move.

The dev ``val`` splits are small (52 plates, 101 receipts): one plate is 0.02 of text F1 and,
when the model is sure of it, up to 0.035 of AP50. This trains ``--folds`` models in this
process, each on the training split less one fold, scores the fold left out the way
``eval_api.py`` scores, and prints each fold's figures with their median, minimum and maximum.
Near-duplicate images (the perceptual hash that validation uses) stay in one fold, so a car
photographed twice is not scored on a model that saw it. OCR as in ``quality_table.py``.

    python benchmarks/fold_quality.py --data ../shared/datasets/plates --normalize alnum \\
        --ignore-extra ../shared/datasets/plates/multi_plate.txt
    python benchmarks/fold_quality.py --data ../shared/datasets/receipts --normalize nospace
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from quality_table import dataset_arguments, labelled_pages, load_eval_tool, predict_all, read_ocr

from docloop.ml.infer import FieldPredictor
from docloop.ml.train import TrainConfig, fit
from docloop.services.training import epochs_for
from docloop.services.validation import near_duplicate_groups, phash


def folds_of(ids: list[str], data: Path, tool: Any, folds: int) -> list[list[str]]:
    """``ids`` dealt into ``folds`` folds in their order, a near-duplicate group at a time."""
    hashes = []
    for ident in ids:
        with Image.open(tool.image_path(data, ident)) as im:
            hashes.append(phash(np.asarray(im.convert("RGB"))))
    roots = near_duplicate_groups(hashes)
    position = {root: n for n, root in enumerate(dict.fromkeys(roots))}
    out: list[list[str]] = [[] for _ in range(folds)]
    for ident, root in zip(ids, roots, strict=True):
        out[position[root] % folds].append(ident)
    return out


def main() -> None:
    ap = dataset_arguments(__doc__.split("\n")[0])
    ap.add_argument("--split", default="train", help="the split to cut into folds")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    if args.folds < 2:
        sys.exit("--folds must be at least 2")

    tool = load_eval_tool(args.eval_tool)
    ids = tool.load_split(args.data, args.split)
    ignore = frozenset(args.ignore_extra.read_text().split()) if args.ignore_extra else frozenset()
    norm = tool.normalizer(args.normalize)
    ocr = read_ocr(args, ids, tool)
    truth = {i: tool.annotations(args.data, i) for i in ids}
    labels = sorted({o["name"] for objs in truth.values() for o in objs})

    rows: list[tuple[int, int, dict[str, Any], float]] = []
    for k, held_out in enumerate(folds_of(ids, args.data, tool, args.folds)):
        held = set(held_out)
        pages = labelled_pages(args.data, [i for i in ids if i not in held], ocr, tool)
        started = time.time()
        bundle = fit(pages, labels, TrainConfig(epochs=epochs_for(len(pages), 60)))
        assert bundle is not None
        seconds = time.time() - started
        preds = predict_all(FieldPredictor(bundle).predict, args.data, held_out, ocr, tool)
        report = tool.score(preds, {i: truth[i] for i in held_out}, norm, ignore)
        rows.append((k, len(held_out), report, seconds))
        print(
            f"fold {k}: {len(held_out)} files, AP50 {report['mean_ap50']}, "
            f"text F1 {report['micro_text_f1']}, trained in {seconds:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    print(f"\n{args.data.name}: {args.split} split, {len(ids)} files, {args.folds} folds", end="")
    print(f", OCR {args.ocr}\n")
    print("| fold | files | mean AP50 | micro text F1 | " + " | ".join(labels) + " | train s |")
    print("|---|---|---|---|" + "---|" * len(labels) + "---|")

    def line(name: str, n: str, ap50: float, micro: float, per: list[float], secs: float) -> None:
        cells = " | ".join(f"{v:.3f}" for v in per)
        print(f"| {name} | {n} | {ap50:.3f} | {micro:.3f} | {cells} | {secs:.0f} |")

    def per_label(report: dict[str, Any]) -> list[float]:
        return [report["per_label"][label]["text_f1"] for label in labels]

    for k, n, report, secs in rows:
        line(str(k), str(n), report["mean_ap50"], report["micro_text_f1"], per_label(report), secs)
    for name, agg in (("median", statistics.median), ("min", min), ("max", max)):
        line(
            name,
            "",
            agg(r["mean_ap50"] for _, _, r, _ in rows),
            agg(r["micro_text_f1"] for _, _, r, _ in rows),
            [agg(per_label(r)[j] for _, _, r, _ in rows) for j in range(len(labels))],
            agg(s for *_, s in rows),
        )


if __name__ == "__main__":
    main()
