"""Active learning against random picking: val figures as labelled files grow, 25 at a time.

Starts from ``--start`` photos of the training split (seeded), trains, and scores ``val`` the
way ``eval_api.py`` scores. Then, for each order, adds ``--step`` photos of the rest of the
training split (the pool) until ``--until``, training again after each addition:

- ``useful``: the pool ranked by the previous step's model (``FieldPredictor.assess``: field
  confidence, candidate margin, ensemble disagreement, layout novelty) and picked as a batch
  spread over layout clusters (``usefulness.pick_batch``);
- ``random``: a seeded random draw from the pool.

Both orders share the first model. Training is the product's (``fit`` with the server's epoch
rule); OCR as in ``quality_table.py`` (cached, so only a first run pays for it). Prints one row
per step and order, a table of both orders side by side at equal labelled files, and draws the
curves into ``--plot`` (a PNG).

    python benchmarks/active_learning.py --data ../shared/datasets/plates --normalize alnum \\
        --ignore-extra ../shared/datasets/plates/multi_plate.txt --plot docs/img/active_learning.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from quality_table import TrainVal, dataset_arguments, labelled_pages, predict_all

from docloop.domain import FieldPrediction, OcrToken
from docloop.ml.data import LabelledPage
from docloop.ml.infer import FieldPredictor
from docloop.ml.labels import comparable
from docloop.ml.train import TrainConfig, fit
from docloop.ml.usefulness import layout_embedding, pick_batch
from docloop.services.training import epochs_for
from docloop.web.charts import COLORS

ORDERS = ("useful", "random")
Row = dict[str, Any]


def next_batch(
    order: str,
    predictor: FieldPredictor,
    pool: list[LabelledPage],
    ocr: dict[str, list[OcrToken]],
    n: int,
    rng: np.random.Generator,
) -> list[str]:
    """The keys of the ``n`` pool pages ``order`` labels next."""
    if order == "random":
        return [pool[i].key for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
    scores = [predictor.assess(ocr[p.key], p.width, p.height)[1].score for p in pool]
    embeddings = np.array([layout_embedding(p.words, p.width, p.height) for p in pool])
    return [pool[i].key for i in pick_batch(scores, embeddings, n)]


def main() -> None:
    ap = dataset_arguments(__doc__.split("\n")[0])
    ap.add_argument("--start", type=int, default=50, help="labelled photos to start from")
    ap.add_argument("--step", type=int, default=25, help="photos added at each step")
    ap.add_argument("--until", type=int, default=200, help="stop at this many labelled photos")
    ap.add_argument("--seed", type=int, default=0, help="the first seed of the start sets")
    ap.add_argument("--seeds", type=int, default=1, help="runs, each from another start set")
    ap.add_argument("--epochs", type=int, default=60, help="the server's train_epochs setting")
    ap.add_argument("--members", type=int, help="the server's train_members setting")
    ap.add_argument("--plot", type=Path, help="write the mean curves to this PNG")
    ap.add_argument(
        "--corrections",
        action="store_true",
        help="only count, for each start set's model, the pool files it reads wrong among the "
        "first --step of each queue order (no retraining)",
    )
    args = ap.parse_args()

    split = TrainVal.read(args)
    pages = {p.key: p for p in labelled_pages(args.data, split.train_ids, split.ocr, split.tool)}
    print(
        f"{args.data.name}: start {args.start}, +{args.step} a step until {args.until}, "
        f"val {len(split.val_ids)} files, OCR {args.ocr}, train_epochs {args.epochs}, "
        f"train_members {args.members or 'by budget'}"
    )
    if args.corrections:
        corrections(args, split, pages)
        return
    runs: list[dict[str, list[Row]]] = []
    for seed in range(args.seed, args.seed + args.seeds):
        runs.append(curves(args, split, pages, seed))
        print(f"\nseed {seed}\n")
        table([runs[-1]])
        if args.plot:
            title = f"{args.data.name}: val figures by labelled files, mean of {len(runs)} run(s)"
            plot(mean(runs), args.plot, title)
    if len(runs) > 1:
        print(f"\nmean of {len(runs)} seeds (min-max)\n")
        table(runs)
    if args.plot:
        print(f"\nplot: {args.plot}")


def curves(
    args: argparse.Namespace, split: TrainVal, pages: dict[str, LabelledPage], seed: int
) -> dict[str, list[Row]]:
    """Both orders' figures from one seeded start set, the orders taking turns."""
    keys = sorted(pages)
    rng = np.random.default_rng(seed)
    first = [keys[i] for i in rng.choice(len(keys), size=min(args.start, len(keys)), replace=False)]
    until = min(args.until, len(keys))

    def train_and_score(chosen: list[str]) -> tuple[FieldPredictor, Row]:
        started = time.time()
        batch = [pages[k] for k in chosen]
        config = TrainConfig(epochs=epochs_for(len(batch), args.epochs), members=args.members)
        bundle = fit(batch, split.labels, config)
        assert bundle is not None
        seconds = time.time() - started
        predictor = FieldPredictor(bundle)
        preds = predict_all(predictor.predict, args.data, split.val_ids, split.ocr, split.tool)
        found = split.score(preds)
        row = {"files": len(chosen), "ap50": found["mean_ap50"], "f1": found["micro_text_f1"],
               "seconds": seconds}  # fmt: skip
        return predictor, row

    base_model, base_row = train_and_score(first)
    chosen = {order: list(first) for order in ORDERS}
    models = dict.fromkeys(ORDERS, base_model)
    rows: dict[str, list[Row]] = {order: [base_row] for order in ORDERS}
    order_rng = np.random.default_rng(seed + 1)
    report(seed, "start", base_row)
    while len(chosen[ORDERS[0]]) < until:
        n = min(args.step, until - len(chosen[ORDERS[0]]))
        for order in ORDERS:
            pool = [pages[k] for k in keys if k not in set(chosen[order])]
            chosen[order] += next_batch(order, models[order], pool, split.ocr, n, order_rng)
            models[order], row = train_and_score(chosen[order])
            rows[order].append(row)
            report(seed, order, row)
    return rows


def corrections(args: argparse.Namespace, split: TrainVal, pages: dict[str, LabelledPage]) -> None:
    """What the review queue's orders put first: for each seed, the model trained on the start
    set reads the pool, and the files it reads wrong (a field's text or box, IoU < 0.5, or a
    field missing) are counted among the first ``--step`` files of each order."""
    keys = sorted(pages)
    print(f"\n| seed | pool | wrong in pool | first {args.step}: most useful | lowest confidence "
          "| random (expected) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for seed in range(args.seed, args.seed + args.seeds):
        rng = np.random.default_rng(seed)
        first = [keys[i] for i in rng.choice(len(keys), size=args.start, replace=False)]
        config = TrainConfig(epochs=epochs_for(len(first), args.epochs), members=args.members)
        bundle = fit([pages[k] for k in first], split.labels, config)
        assert bundle is not None
        predictor = FieldPredictor(bundle)
        pool = [pages[k] for k in keys if k not in set(first)]
        found = [predictor.assess(split.ocr[p.key], p.width, p.height) for p in pool]
        wrong = [
            _needs_correction(page, fields) for page, (fields, _) in zip(pool, found, strict=True)
        ]
        embeddings = np.array([layout_embedding(p.words, p.width, p.height) for p in pool])
        useful = pick_batch([u.score for _, u in found], embeddings, args.step)
        # As the queue sorts lowest confidence first: a file with no field comes last.
        lowest = sorted(
            range(len(pool)), key=lambda i: min((f.score for f in found[i][0]), default=2.0)
        )[: args.step]
        expected = sum(wrong) * args.step / len(pool)
        print(
            f"| {seed} | {len(pool)} | {sum(wrong)} | {sum(wrong[i] for i in useful)} | "
            f"{sum(wrong[i] for i in lowest)} | {expected:.1f} |",
            flush=True,
        )


def _needs_correction(page: LabelledPage, fields: list[FieldPrediction]) -> bool:
    """Whether a reviewer would change the page: an annotated field whose best prediction is
    missing, reads another text, or has a box that overlaps the annotated one under IoU 0.5."""
    for ann in page.annotations:
        mine = [f for f in fields if f.label == ann.label]
        if not mine:
            return True
        top = max(mine, key=lambda f: f.score)
        if ann.text and ann.text != "?" and comparable(top.text) != comparable(ann.text):
            return True
        if ann.box is not None and top.box.iou(ann.box) < 0.5:
            return True
    return False


def mean(runs: list[dict[str, list[Row]]]) -> dict[str, list[Row]]:
    """Each step's figures averaged over the runs."""
    return {
        order: [
            {k: float(np.mean([r[order][step][k] for r in runs])) for k in runs[0][order][step]}
            for step in range(len(runs[0][order]))
        ]
        for order in ORDERS
    }


def table(runs: list[dict[str, list[Row]]]) -> None:
    """Both orders side by side at equal labelled files: the mean of ``runs``, with the range
    when there are several."""

    def cell(order: str, step: int, key: str) -> str:
        values = [r[order][step][key] for r in runs]
        shown = f"{np.mean(values):.3f}"
        return shown + (f" ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else "")

    print("| labelled | text F1 useful | text F1 random | AP50 useful | AP50 random |")
    print("|---|---|---|---|---|")
    for step, row in enumerate(runs[0]["useful"]):
        cells = [cell(o, step, k) for k in ("f1", "ap50") for o in ORDERS]
        print(f"| {int(row['files'])} | " + " | ".join(cells) + " |")


def report(seed: int, order: str, row: Row) -> None:
    print(
        f"seed {seed}, {order}: {row['files']} files, text F1 {row['f1']:.3f}, "
        f"AP50 {row['ap50']:.3f}, trained in {row['seconds']:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def plot(rows: dict[str, list[Row]], path: Path, title: str) -> None:
    """Two panels, text F1 and AP50 against labelled files, one line per order."""
    image = Image.new("RGB", (2 * PANEL[0] + 3 * MARGIN, PANEL[1] + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 12), title, fill="black")
    for p, (metric, name) in enumerate((("f1", "val micro text F1"), ("ap50", "val mean AP50"))):
        _panel(draw, (MARGIN + p * (PANEL[0] + MARGIN), 40), rows, metric, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


PANEL, MARGIN = (400, 260), 50


def _panel(
    draw: ImageDraw.ImageDraw, corner: tuple[int, int], rows: dict[str, list[Row]], metric: str,
    name: str,
) -> None:  # fmt: skip
    """One metric's curves in a PANEL-sized box at ``corner``, the axis in steps of 0.025 (0.05
    over a wider range)."""
    left, top = corner
    width, height = PANEL
    files = [r["files"] for r in rows[ORDERS[0]]]
    values = [r[metric] for order in ORDERS for r in rows[order]]
    low, high = np.floor(min(values) * 40) / 40, np.ceil(max(values) * 40) / 40
    high = high if high > low else low + 0.025
    tick = 0.025 if high - low <= 0.15 else 0.05

    def x(n: float) -> float:
        return left + width * (n - files[0]) / max(files[-1] - files[0], 1)

    def y(v: float) -> float:
        return top + height * (1 - (v - low) / (high - low))

    draw.rectangle((left, top, left + width, top + height), outline="#9ca3af")
    draw.text((left, top + height + 24), f"{name} by labelled files", fill="black")
    for v in np.arange(low, high + tick / 2, tick):
        draw.line((left, y(v), left + width, y(v)), fill="#e5e7eb")
        draw.text((left - 40, y(v) - 6), f"{v:.3f}", fill="black")
    for n in files:
        draw.text((x(n) - 8, top + height + 6), str(int(n)), fill="black")
    for k, order in enumerate(ORDERS):
        points = [(x(r["files"]), y(r[metric])) for r in rows[order]]
        draw.line(points, fill=COLORS[k], width=3)
        for px, py in points:
            draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=COLORS[k])
        draw.text((left + 10, top + 8 + 14 * k), order, fill=COLORS[k])


if __name__ == "__main__":
    main()
