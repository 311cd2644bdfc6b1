"""Exact reads of field line crops by the shipped recognizer and by one fine-tuned on train.

Cuts every annotated field's text lines from the dataset's photos (docloop's OCR, cached under
``--cache`` as ``quality_table.py`` keeps it), tunes the recognizer on the ``train`` fields as a
training does (``ml/recognizer/tune.py``) and prints the ``val`` fields read exactly, stock and
tuned, with the seconds it took; ``--folds K`` also prints K-fold figures on ``train``.

``--dump FILE.npz`` writes the crops, texts and the recognizer and stops; ``--from FILE.npz``
tunes from such a file, needing only torch, onnx, numpy, opencv and albumentations (no OCR
engine): the way to time it on another machine, a GPU one say.

``--served-fold K`` measures what a client receives instead: the field model is trained on
``train`` less fold K (``fold_quality.py``'s folds; ``--networks DIR`` keeps the networks),
the training's recognizer step runs on those pages as it does in the server
(``ml/recognizer/choice.py``: tuned on the pages' field lines, judged on their held-out share
through the whole model), and fold K is scored as ``fold_quality.py`` scores it with the
engine's readings and with the tuned recognizer (what training serves when it chooses it);
``--unseen-texts`` takes ``fold_quality.py``'s folds that hold out whole texts.

    python benchmarks/recognizer_finetune.py --data ../shared/datasets/plates [--folds 5]
    python benchmarks/recognizer_finetune.py --data ../shared/datasets/plates --served-fold 0 \
        --networks /tmp/rec-nets
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from docloop.ml.recognizer.tune import Line, TuneConfig, tune


def crops_from_dataset(args: argparse.Namespace) -> tuple[bytes, list[Line], list[Line]]:
    """The latin-sliced recognizer as the engine runs it, and the train and val lines."""
    from PIL import Image
    from quality_table import docloop_lines, load_eval_tool

    from docloop.domain import Annotation, Box
    from docloop.ml.engines.rapid import recognizer_model
    from docloop.ml.recognizer.lines import field_lines
    from docloop.ml.tokens import split_words

    tool = load_eval_tool(args.eval_tool)
    splits = {s: tool.load_split(args.data, s) for s in ("train", "val")}
    ocr = docloop_lines(args.data, splits["train"] + splits["val"], tool, args.cache)
    out: dict[str, list[Line]] = {}
    for split, ids in splits.items():
        out[split] = []
        for ident in ids:
            image = np.asarray(Image.open(tool.image_path(args.data, ident)).convert("RGB"))
            anns = [
                Annotation(
                    o["name"], Box(**o["bndbox"]) if o.get("bndbox") else None, o.get("ocr_text")
                )
                for o in tool.annotations(args.data, ident)
            ]
            out[split] += field_lines(image, split_words(ocr[ident]), anns, ident)
    return recognizer_model("latin", args.cache).read_bytes(), out["train"], out["val"]


def dump(path: Path, model: bytes, train: list[Line], val: list[Line]) -> None:
    lines = train + val
    np.savez_compressed(
        path,
        model=np.frombuffer(model, np.uint8),
        pixels=np.concatenate([ln.crop.reshape(-1) for ln in lines]),
        shapes=np.array([ln.crop.shape for ln in lines]),
        texts=np.array([ln.text for ln in lines]),
        fields=np.array([ln.field for ln in lines]),
        readings=np.array([ln.reading or "" for ln in lines]),
        n_train=np.array(len(train)),
    )


def load(path: Path) -> tuple[bytes, list[Line], list[Line]]:
    data = np.load(path)
    lines, start = [], 0
    # Dumps made before engine readings were kept have none (the figure is then left out).
    readings = data["readings"] if "readings" in data else [None] * len(data["texts"])
    # An npz member is decompressed anew at every access, and a slice keeps its whole array
    # alive: read it once and copy each crop out, or every line holds all the pixels.
    pixels = data["pixels"]
    rows = zip(data["shapes"], data["texts"], data["fields"], readings, strict=True)
    for shape, text, name, reading in rows:
        size = int(np.prod(shape))
        crop = pixels[start : start + size].reshape(shape).copy()
        lines.append(Line(crop, str(text), str(name), None if reading is None else str(reading)))
        start += size
    n = int(data["n_train"])
    return data["model"].tobytes(), lines[:n], lines[n:]


def folds(train: list[Line], k: int) -> list[tuple[list[Line], list[Line]]]:
    """K splits of ``train`` by photo (a field's lines stay together)."""
    photos = sorted({ln.field.rsplit(":", 1)[0] for ln in train})
    fold_of = {p: i % k for i, p in enumerate(photos)}
    return [
        (
            [ln for ln in train if fold_of[ln.field.rsplit(":", 1)[0]] != f],
            [ln for ln in train if fold_of[ln.field.rsplit(":", 1)[0]] == f],
        )
        for f in range(k)
    ]


def served_fold(args: argparse.Namespace, tuning: TuneConfig) -> None:
    """Fold ``args.served_fold`` of ``train`` scored through the whole model, with and without
    the tuned recognizer, and the recognizer step's decision and CPU seconds."""
    from fold_quality import annotated_texts, as_v2, fold_networks, folds_of
    from PIL import Image
    from quality_table import _pred, labelled_pages, load_eval_tool, read_ocr

    from docloop.ml.engines.rapid import recognizer_model
    from docloop.ml.infer import FieldPredictor
    from docloop.ml.recognizer.choice import judge, tune_on_pages
    from docloop.ml.train import TrainConfig, export_bundle
    from docloop.services.training import epochs_for

    tool = load_eval_tool(args.eval_tool)
    ids = tool.load_split(args.data, "train")
    ocr = read_ocr(argparse.Namespace(**{**vars(args), "ocr": "docloop"}), ids, tool)
    truth = {i: tool.annotations(args.data, i) for i in ids}
    labels = sorted({o["name"] for objs in truth.values() for o in objs})
    norm = tool.normalizer(args.normalize)
    texts = annotated_texts(truth, norm) if args.unseen_texts else None
    held_out = folds_of(ids, args.data, tool, 5, texts)[args.served_fold]
    pages = labelled_pages(args.data, [i for i in ids if i not in set(held_out)], ocr, tool)
    config = TrainConfig(epochs=epochs_for(len(pages), 60))
    examples, networks, metrics = fold_networks(pages, labels, config, args.networks)

    def image(ident: str) -> np.ndarray:
        return np.asarray(Image.open(tool.image_path(args.data, ident)).convert("RGB"))

    model = recognizer_model("latin", args.cache).read_bytes()
    started = time.time()
    tuned = tune_on_pages(model, pages, lambda p: image(p.key), tuning)
    choice = judge(tuned, pages, examples, labels, networks, metrics, lambda p: image(p.key))
    f = choice.figures
    print(
        f"recognizer step: {f['cpu_seconds']:.0f} CPU s, {time.time() - started:.0f} s; "
        f"held-out lines read exactly: shipped {f['held_exact_stock']}, engine "
        f"{f['held_exact_engine']}, tuned {f['held_exact_tuned']} of {f['held_fields']}; "
        f"held-out fields served right: engine {f.get('held_served_engine')}, tuned "
        f"{f.get('held_served_tuned')} of {f.get('held_served_fields')} "
        f"({f.get('held_served_wins')} wins, {f.get('held_served_losses')} losses, sign test "
        f"p {f.get('sign_test_p')}); "
        + ("the tuned one serves" if choice.serves else "the shipped one serves"),
        flush=True,
    )
    plain = export_bundle(pages, examples, labels, networks, metrics)
    ignore = frozenset(args.ignore_extra.read_text().split()) if args.ignore_extra else frozenset()
    for name, bundle in (
        ("engine's readings", plain),
        ("tuned recognizer", replace(plain, recognizer=choice.onnx)),
    ):
        predictor, preds = FieldPredictor(bundle), {}
        for ident in held_out:
            page = image(ident)
            found = predictor.predict(ocr[ident], page.shape[1], page.shape[0], page)
            preds[ident] = [_pred(p.label, p.box, p.text, p.score) for p in found]
        report = tool.score(as_v2(preds), {i: truth[i] for i in held_out}, norm, ignore)
        print(
            f"fold {args.served_fold} ({len(held_out)} files), {name}: AP50 "
            f"{report['mean_ap50']}, text F1 {report['micro_text_f1']}, decision F1 "
            f"{report['decision']['f1']}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--eval-tool", type=Path, default=Path("../shared/tools/eval_api.py"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "docloop-bench")
    ap.add_argument("--dump", type=Path)
    ap.add_argument("--from", dest="source", type=Path)
    ap.add_argument("--folds", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=TuneConfig.epochs)
    ap.add_argument("--lr", type=float, default=TuneConfig.lr)
    ap.add_argument("--copies", type=int, default=TuneConfig.copies)
    ap.add_argument("--budget", type=float, default=TuneConfig.budget_s)
    ap.add_argument("--head-only", action="store_true", help="train the last layer alone")
    ap.add_argument("--limit", type=int, help="use this many train and val lines (a smoke run)")
    ap.add_argument("--served-fold", type=int, help="score this fold of train as served")
    ap.add_argument("--networks", type=Path, help="keep and reuse the fold's trained networks")
    ap.add_argument("--normalize", choices=["alnum", "nospace"], default="alnum")
    ap.add_argument("--ignore-extra", type=Path)
    ap.add_argument(
        "--unseen-texts",
        action="store_true",
        help="with --served-fold: fold_quality.py's folds that hold out whole texts",
    )
    args = ap.parse_args()
    config = replace(
        TuneConfig(),
        epochs=args.epochs,
        lr=args.lr,
        copies=args.copies,
        budget_s=args.budget,
        neck=not args.head_only,
    )
    if args.served_fold is not None:
        if args.data is None:
            ap.error("--served-fold needs --data")
        served_fold(args, config)
        return
    if args.source:
        model, train, val = load(args.source)
        if args.limit:
            train, val = train[: args.limit], val[: args.limit]
    else:
        if args.data is None:
            ap.error("--data or --from is required")
        t = time.time()
        model, train, val = crops_from_dataset(args)
        print(f"crops: {len(train)} train, {len(val)} val lines in {time.time() - t:.0f} s")
    if args.dump:
        dump(args.dump, model, train, val)
        print(f"wrote {args.dump}")
        return

    def report(name: str, held: list[Line], figures: dict[str, float]) -> None:
        n = figures["held_fields"]
        print(
            f"{name}: {n} fields, exact stock {figures['held_exact_stock'] / n:.3f} "
            f"tuned {figures['held_exact_tuned'] / n:.3f} "
            f"engine {(figures['held_exact_engine'] or 0) / n:.3f}, "
            f"{figures['train_lines']} train lines, "
            f"{len(figures['losses'])} epochs, {figures['seconds']:.0f} s",
            flush=True,
        )

    progress = (lambda s: print(s, file=sys.stderr, flush=True)) if args.folds == 0 else None
    report("val", val, tune(model, train, val, config, progress=progress).figures)
    for f, (part, held) in enumerate(folds(train, args.folds) if args.folds else []):
        report(f"train fold {f + 1}/{args.folds}", held, tune(model, part, held, config).figures)


if __name__ == "__main__":
    main()
