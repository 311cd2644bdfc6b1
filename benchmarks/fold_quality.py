"""docloop's figures on held-out folds of the training split: how much one val figure can move.

The dev ``val`` splits are small (52 plates, 101 receipts): one plate is 0.02 of text F1 and,
when the model is sure of it, up to 0.035 of AP50. This trains ``--folds`` models in this
process, each on the training split less one fold, scores the fold left out the way
``eval_api.py`` scores, and prints each fold's figures with their median, minimum and maximum.
Near-duplicate images (the perceptual hash that validation uses) stay in one fold, so a car
photographed twice is not scored on a model that saw it. OCR as in ``quality_table.py``.

Each fold is also scored as a v2 client sees it (``decision F1``: the predictions left once the
unconfirmed alternatives are dropped, ``routing.alternatives``). ``--misses`` sorts each held-out
annotated box that the returned top box misses (IoU < 0.5) by cause (``box_misses.py``).
``--text-misses`` prints each held-out annotated text the label's best returned field does not
read as (normalized as scored), with what the engine read inside the annotated box.
``--networks DIR`` keeps each fold's trained networks, named by the fold's files and the
training settings, so a change to the decoders is measured again without retraining.
``--unseen-texts`` also keeps files that share an annotated text in one fold (the same plate
photographed twice), so every held-out text is one the fold's model never saw: how a model
reads values new to it, as on documents from outside the dev data.
``--also-score val`` scores each fold's model on that split too: the same models on the same
files, so a gap between the held-out folds and ``val`` is told apart from the fold models'
smaller training sets (a fold trains on four fifths of ``train``).

    python benchmarks/fold_quality.py --data ../shared/datasets/plates --normalize alnum \\
        --ignore-extra ../shared/datasets/plates/multi_plate.txt
    python benchmarks/fold_quality.py --data ../shared/datasets/receipts --normalize nospace
    python benchmarks/fold_quality.py ... --networks /tmp/fold-nets --misses
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from box_misses import MissTally
from PIL import Image
from quality_table import (
    Preds,
    dataset_arguments,
    labelled_pages,
    load_eval_tool,
    predict_all,
    read_ocr,
)

from docloop.domain import Box, OcrToken
from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.data import Example, LabelledPage
from docloop.ml.infer import FieldPredictor
from docloop.ml.tokens import reading_order, split_words
from docloop.ml.train import (
    TrainConfig,
    build_examples,
    evaluate_members,
    export_bundle,
    train_members,
)
from docloop.services.routing import alternatives
from docloop.services.training import epochs_for
from docloop.services.validation import near_duplicate_groups, phash


def folds_of(
    ids: list[str], data: Path, tool: Any, folds: int, texts: dict[str, set[str]] | None = None
) -> list[list[str]]:
    """``ids`` dealt into ``folds`` folds in their order, a near-duplicate group at a time;
    with ``texts`` (each file's annotated texts), files that share a text are one group too,
    so no held-out text was seen in training."""
    hashes = []
    for ident in ids:
        with Image.open(tool.image_path(data, ident)) as im:
            hashes.append(phash(np.asarray(im.convert("RGB"))))
    roots = near_duplicate_groups(hashes)
    if texts is not None:
        roots = _joined_by_text(ids, roots, texts)
    position = {root: n for n, root in enumerate(dict.fromkeys(roots))}
    out: list[list[str]] = [[] for _ in range(folds)]
    for ident, root in zip(ids, roots, strict=True):
        out[position[root] % folds].append(ident)
    return out


def annotated_texts(
    truth: dict[str, list[dict[str, Any]]], norm: Callable[[str], str]
) -> dict[str, set[str]]:
    """Each file's annotated texts, normalized and named by label: what ``folds_of`` keeps in
    one fold for ``--unseen-texts``."""
    return {
        i: {f"{o['name']}:{norm(o['ocr_text'])}" for o in objs if o.get("ocr_text")}
        for i, objs in truth.items()
    }


def _joined_by_text(ids: list[str], roots: list[int], texts: dict[str, set[str]]) -> list[int]:
    """The groups ``roots`` names, merged where two files share an annotated text; each file's
    group named by its first file."""
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, ident in enumerate(ids):
        join(i, roots[i])
        for text in texts.get(ident, ()):
            join(i, first.setdefault(text, i))
    return [root(i) for i in range(len(ids))]


def fold_networks(
    pages: list[LabelledPage], labels: list[str], config: TrainConfig, cache: Path | None
) -> tuple[list[Example], list[FieldTagger], dict[str, Any]]:
    """The pages' examples, networks and evaluation metrics, with the trained networks kept in
    ``cache`` (when given) under a name made of the pages and the settings."""
    examples = build_examples(pages, labels)
    name = hashlib.sha256(
        json.dumps([[p.key for p in pages], labels, asdict(config)]).encode()
    ).hexdigest()[:16]
    path = cache / f"{name}.pt" if cache else None
    if path is not None and path.exists():
        networks = torch.load(path, weights_only=False)
    else:
        networks = train_members(pages, examples, labels, config)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(networks, path)
    return examples, networks, evaluate_members(pages, examples, labels, networks, config)


def train_fold(
    pages: list[LabelledPage], labels: list[str], config: TrainConfig, cache: Path | None
) -> FieldModelBundle:
    """``fit``, with the networks from ``fold_networks``: the decoders are always fitted by
    this checkout's code."""
    examples, networks, metrics = fold_networks(pages, labels, config, cache)
    return export_bundle(pages, examples, labels, networks, metrics)


def as_v2(preds: Preds) -> Preds:
    """What a v2 client receives by default: each file's predictions less the alternatives."""
    return {
        ident: [p for p, alt in zip(ps, alternatives(ps, None), strict=True) if not alt]
        for ident, ps in preds.items()
    }


def text_misses(
    preds: list[dict[str, Any]],
    truth: list[dict[str, Any]],
    lines: list[OcrToken],
    norm: Callable[[str], str],
) -> list[str]:
    """ "label: want TEXT got TEXT (engine: TEXT)" for each annotated text the label's best
    returned field reads otherwise; the engine's reading is its lines' words centred in the
    annotated box, in reading order."""
    best: dict[str, dict[str, Any]] = {}
    for p in sorted(preds, key=lambda p: p["score"]):
        best[p["label"]] = p
    out = []
    for obj in truth:
        want = norm(obj.get("ocr_text") or "")
        if not want:
            continue
        found = best.get(obj["name"])
        got = norm(found["ocr_text"]) if found else "-"
        if got != want:
            box = Box(**obj["bndbox"]) if obj.get("bndbox") else None
            inside = [w for w in split_words(lines) if box and box.contains_point(*w.box.center)]
            engine = norm(" ".join(w.text for w in reading_order(inside)))
            out.append(f"{obj['name']}: want {want} got {got} (engine: {engine})")
    return out


def print_table(
    rows: list[tuple[int, int, dict[str, Any], float]],
    labels: list[str],
    total: tuple[str, str, dict[str, Any]] | None,
) -> None:
    """A Markdown table of each fold's report, their median, minimum and maximum (and mean when
    every row scored the same files), and ``total`` (a name, a file count and a report) last."""
    print(
        "| fold | files | mean AP50 | micro text F1 | decision F1 | "
        + " | ".join(labels)
        + " | train s |"
    )
    print("|---|---|---|---|---|" + "---|" * len(labels) + "---|")

    def line(name: str, n: str, figures: list[float], per: list[float], secs: float) -> None:
        cells = " | ".join(f"{v:.3f}" for v in [*figures, *per])
        print(f"| {name} | {n} | {cells} | {secs:.0f} |")

    def overall(report: dict[str, Any]) -> list[float]:
        return [report["mean_ap50"], report["micro_text_f1"], report["decision"]["f1"]]

    def per_label(report: dict[str, Any]) -> list[float]:
        return [report["per_label"][label]["text_f1"] for label in labels]

    for k, n, report, secs in rows:
        line(str(k), str(n), overall(report), per_label(report), secs)
    aggregates: list[tuple[str, Callable[[list[float]], float]]] = [
        ("median", statistics.median),
        ("min", min),
        ("max", max),
    ]
    if total is None:
        aggregates.append(("mean", statistics.fmean))
    for name, agg in aggregates:
        line(
            name,
            "",
            [agg([overall(r)[j] for _, _, r, _ in rows]) for j in range(3)],
            [agg([per_label(r)[j] for _, _, r, _ in rows]) for j in range(len(labels))],
            agg([s for *_, s in rows]),
        )
    if total is not None:
        name, n, report = total
        line(name, n, overall(report), per_label(report), sum(s for *_, s in rows))


def main() -> None:
    ap = dataset_arguments(__doc__.split("\n")[0])
    ap.add_argument("--split", default="train", help="the split to cut into folds")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--networks", type=Path, help="keep and reuse each fold's trained networks")
    ap.add_argument("--misses", action="store_true", help="print why returned boxes miss")
    ap.add_argument("--text-misses", action="store_true", help="print texts read wrong")
    ap.add_argument("--only-fold", type=int, help="train and score this fold alone")
    ap.add_argument(
        "--unseen-texts",
        action="store_true",
        help="keep files that share an annotated text in one fold: held-out texts are new",
    )
    ap.add_argument("--also-score", help="a split each fold's model is scored on too (val)")
    args = ap.parse_args()
    if args.folds < 2:
        sys.exit("--folds must be at least 2")

    tool = load_eval_tool(args.eval_tool)
    ids = tool.load_split(args.data, args.split)
    ignore = frozenset(args.ignore_extra.read_text().split()) if args.ignore_extra else frozenset()
    norm = tool.normalizer(args.normalize)
    extra = tool.load_split(args.data, args.also_score) if args.also_score else []
    ocr = read_ocr(args, ids + extra, tool)
    truth = {i: tool.annotations(args.data, i) for i in ids + extra}
    labels = sorted({o["name"] for i in ids for o in truth[i]})

    rows: list[tuple[int, int, dict[str, Any], float]] = []
    extra_rows: list[tuple[int, int, dict[str, Any], float]] = []
    misses = MissTally()
    pooled: Preds = {}
    texts = annotated_texts(truth, norm) if args.unseen_texts else None
    for k, held_out in enumerate(folds_of(ids, args.data, tool, args.folds, texts)):
        if args.only_fold is not None and k != args.only_fold:
            continue
        held = set(held_out)
        pages = labelled_pages(args.data, [i for i in ids if i not in held], ocr, tool)
        started = time.time()
        config = TrainConfig(epochs=epochs_for(len(pages), 60))
        bundle = train_fold(pages, labels, config, args.networks)
        seconds = time.time() - started
        preds = as_v2(predict_all(FieldPredictor(bundle).predict, args.data, held_out, ocr, tool))
        report = tool.score(preds, {i: truth[i] for i in held_out}, norm, ignore)
        rows.append((k, len(held_out), report, seconds))
        if extra:
            seen = as_v2(predict_all(FieldPredictor(bundle).predict, args.data, extra, ocr, tool))
            scored = tool.score(seen, {i: truth[i] for i in extra}, norm, ignore)
            extra_rows.append((k, len(extra), scored, seconds))
        pooled.update(preds)
        if args.text_misses:
            for ident in held_out:
                for line in text_misses(preds[ident], truth[ident], ocr[ident], norm):
                    print(f"fold {k} {ident} {line}", flush=True)
        if args.misses:
            scored = [
                p for p in labelled_pages(args.data, held_out, ocr, tool) if p.key not in ignore
            ]
            misses.add(k, scored, preds, bundle)
        print(
            f"fold {k}: {len(held_out)} files, AP50 {report['mean_ap50']}, "
            f"text F1 {report['micro_text_f1']}, decision F1 {report['decision']['f1']}, "
            f"trained in {seconds:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    print(f"\n{args.data.name}: {args.split} split, {len(ids)} files, {args.folds} folds", end="")
    print(f", OCR {args.ocr}\n")
    everything = tool.score(pooled, {i: truth[i] for i in pooled}, norm, ignore)
    print_table(rows, labels, ("all", str(len(pooled)), everything))
    if extra_rows:
        print(f"\nEach fold's model on the {args.also_score} split ({len(extra)} files):\n")
        print_table(extra_rows, labels, None)
    if args.misses:
        misses.print()


if __name__ == "__main__":
    main()
