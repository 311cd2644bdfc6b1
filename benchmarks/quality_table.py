"""Our figures next to two baselines and an ablation, scored the way ``eval_api.py`` scores.

Trains on ``splits/train.txt`` and scores ``splits/val.txt`` in this process (no server), over
docloop's own OCR as the server runs it (``--ocr docloop``, the default: read once and kept under
``--cache`` by content hash and engine, so only the first run pays for it), or over the dataset's
cached rapidocr output (``--ocr cached``: ``ocr_rapidocr.json``, rapidocr's default settings,
with no lattices to re-read from). Rows:

- ``rules / rapidocr`` and ``rules / tesseract``: the pretrained OCR with simple hand-written
  rules per dataset (a plate-shaped line; first line, date pattern, TOTAL line). The baseline a
  user would write in an afternoon. Tesseract rows need the ``tesseract`` binary.
- ``docloop``: the model as the server trains it.
- ``- box refinement``, ``- text correction``, ``- known values``, ``- word mending``,
  ``- re-reading``: the same networks, with that learned decoder replaced by the identity
  (known values are part of text correction; re-reading is the recognizer's lattice read with
  the label's character model and, where it helps, misread words mended to the label's words).
- ``- augmentation``: networks retrained without re-cut pages, character noise, dropped words or
  layout jitter (``--no-augmentation-row`` skips this second training).
- ``+ transcriptions``: retrained with each train page's full-page transcription (the dataset's
  ``lines/``, when it has them) as optional training data, as ``docloop import`` uploads them.

    python benchmarks/quality_table.py --data ../shared/datasets/plates --normalize alnum \\
        --ignore-extra ../shared/datasets/plates/multi_plate.txt [--tesseract]
    python benchmarks/quality_table.py --data ../shared/datasets/receipts --normalize nospace
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from docloop.domain import Annotation, Box, FieldPrediction, OcrToken
from docloop.ml.boxes import BoxRefiner
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.data import LabelledPage
from docloop.ml.engines.rapid import RapidOcrEngine
from docloop.ml.infer import FieldPredictor
from docloop.ml.known_values import KnownValues
from docloop.ml.reread import Rereader
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import split_words
from docloop.ml.train import TrainConfig, fit
from docloop.services.datasets import validate_transcription
from docloop.services.importers import read_lines_tsv
from docloop.services.ocr import lines_from_json, lines_to_json
from docloop.services.training import epochs_for, transcribed_lines

Preds = dict[str, list[dict[str, Any]]]


def load_eval_tool(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("eval_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rapidocr_lines(data: Path) -> dict[str, list[OcrToken]]:
    cached = json.loads((data / "ocr_rapidocr.json").read_text())
    out = {}
    for ident, lines in cached.items():
        tokens = []
        for i, line in enumerate(lines):
            xs = [p[0] for p in line["box"]]
            ys = [p[1] for p in line["box"]]
            box = Box(min(xs), min(ys), max(xs), max(ys))
            tokens.append(OcrToken(line["text"], box, float(line["score"]), i))
        out[ident] = tokens
    return out


def docloop_lines(
    data: Path, ids: list[str], eval_tool: Any, cache: Path
) -> dict[str, list[OcrToken]]:
    """docloop's engine on every image, with a progress line; each result kept as a JSON file
    named by the image's content hash under a folder named by the engine."""
    engine = RapidOcrEngine()
    folder = cache / engine.name
    folder.mkdir(parents=True, exist_ok=True)
    paths = {i: eval_tool.image_path(data, i) for i in ids}
    hashes = {i: hashlib.sha256(p.read_bytes()).hexdigest() for i, p in paths.items()}
    todo = [i for i in ids if not (folder / f"{hashes[i]}.json").exists()]

    def read(ident: str) -> None:
        image = np.asarray(Image.open(paths[ident]).convert("RGB"))
        target = folder / f"{hashes[ident]}.json"
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(lines_to_json(engine.read(image))))
        partial.replace(target)

    with ThreadPoolExecutor(engine.profile.pool_size) as pool:
        for n, _ in enumerate(pool.map(read, todo), start=1):
            print(f"\rOCR {n}/{len(todo)}", end="", file=sys.stderr, flush=True)
    if todo:
        print(file=sys.stderr)
    return {i: lines_from_json(json.loads((folder / f"{hashes[i]}.json").read_text())) for i in ids}


def tesseract_lines(image: Path) -> list[OcrToken]:
    """Tesseract's words grouped into its own lines, each line one token like rapidocr's."""
    tsv = subprocess.run(
        ["tesseract", str(image), "stdout", "tsv"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    lines: dict[tuple[int, int, int], list[tuple[str, Box]]] = {}
    for row in tsv[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or not cols[11].strip():
            continue
        left, top, w, h = (float(c) for c in cols[6:10])
        key = (int(cols[2]), int(cols[3]), int(cols[4]))
        lines.setdefault(key, []).append((cols[11], Box(left, top, left + w, top + h)))
    tokens = []
    for i, words in enumerate(lines.values()):
        box = words[0][1]
        for _, b in words[1:]:
            box = box.union(b)
        tokens.append(OcrToken(" ".join(t for t, _ in words), box, 1.0, i))
    return tokens


def _pred(label: str, box: Box, text: str, score: float = 1.0) -> dict[str, Any]:
    return {"label": label, **box.as_dict(), "ocr_text": text, "score": score}


PLATE = re.compile(r"[A-Z]{2}\d{1,2}[A-Z]{0,3}\d{3,4}")


def plate_rules(lines: list[OcrToken]) -> list[dict[str, Any]]:
    """A plate-shaped line (or two stacked lines that together are plate-shaped)."""
    alnum = [re.sub(r"[^A-Z0-9]", "", t.text.upper()) for t in lines]
    for t, text in zip(lines, alnum, strict=True):
        if PLATE.fullmatch(text):
            return [_pred("number_plate", t.box, text)]
    for i in range(len(lines) - 1):
        if PLATE.fullmatch(alnum[i] + alnum[i + 1]):
            box = lines[i].box.union(lines[i + 1].box)
            return [_pred("number_plate", box, alnum[i] + alnum[i + 1])]
    candidates = [
        (t, s)
        for t, s in zip(lines, alnum, strict=True)
        if 6 <= len(s) <= 11 and re.search(r"\d", s)
    ]
    if not candidates:
        return []
    t, s = max(candidates, key=lambda c: c[0].box.area())
    return [_pred("number_plate", t.box, s, 0.5)]


DATE = re.compile(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2} ?[A-Z]{3} ?\d{2,4}")
AMOUNT = re.compile(r"\d+[.,]\d{2}")


def receipt_rules(lines: list[OcrToken]) -> list[dict[str, Any]]:
    """Company: the first line; address: the next three; date: the first date; total: the
    amount on (or right of) the last line saying TOTAL but not SUBTOTAL."""
    ordered = sorted(lines, key=lambda t: (t.box.ymin, t.box.xmin))
    out = []
    if ordered:
        out.append(_pred("company", ordered[0].box, ordered[0].text))
    address = ordered[1:4]
    if address:
        box = address[0].box
        for t in address[1:]:
            box = box.union(t.box)
        out.append(_pred("address", box, " ".join(t.text for t in address)))
    for t in ordered:
        found = DATE.search(t.text.upper())
        if found:
            out.append(_pred("date", t.box, found.group(0)))
            break
    totals = [t for t in ordered if "TOTAL" in t.text.upper() and "SUB" not in t.text.upper()]
    for t in reversed(totals):
        row = [o for o in ordered if abs(o.box.center[1] - t.box.center[1]) < t.box.height]
        same_row = [t] + [o for o in row if o is not t]
        amounts = [(o, a) for o in same_row for a in AMOUNT.findall(o.text)]
        if amounts:
            o, a = amounts[-1]
            out.append(_pred("total", o.box, a))
            break
    return out


def labelled_pages(
    data: Path, ids: list[str], ocr: dict[str, list[OcrToken]], eval_tool: Any
) -> list[LabelledPage]:
    pages = []
    for ident in ids:
        with Image.open(eval_tool.image_path(data, ident)) as im:
            width, height = im.size
        anns = []
        for o in eval_tool.annotations(data, ident):
            b = o.get("bndbox")
            box = Box(b["xmin"], b["ymin"], b["xmax"], b["ymax"]) if b else None
            anns.append(Annotation(o["name"], box, o.get("ocr_text")))
        if any(a.box for a in anns):
            pages.append(LabelledPage(split_words(ocr[ident]), width, height, anns, key=ident))
    return pages


def with_transcriptions(data: Path, pages: list[LabelledPage]) -> list[LabelledPage]:
    """``pages`` each followed by its transcribed copy (the dataset's ``lines/<key>.tsv``),
    grouped with it as the training pipeline groups them."""
    out = []
    for page in pages:
        page = replace(page, group=page.key)
        lines = read_lines_tsv(data / "lines" / f"{page.key}.tsv")
        stored = validate_transcription(lines, [(page.width, page.height)], page.key) or []
        out += [
            page,
            replace(page, words=split_words(transcribed_lines(stored, 0)), transcribed=True),
        ]
    return out


def predict_all(
    predict: Callable[[list[OcrToken], int, int], list[FieldPrediction]],
    data: Path,
    ids: list[str],
    ocr: dict[str, list[OcrToken]],
    eval_tool: Any,
) -> Preds:
    out = {}
    for ident in ids:
        with Image.open(eval_tool.image_path(data, ident)) as im:
            width, height = im.size
        out[ident] = [
            _pred(p.label, p.box, p.text, p.score) for p in predict(ocr[ident], width, height)
        ]
    return out


def dataset_arguments(description: str) -> argparse.ArgumentParser:
    """The options every quality benchmark takes: the dataset, how to score it, whose OCR."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--normalize", choices=["alnum", "nospace"], required=True)
    ap.add_argument("--ignore-extra", type=Path)
    ap.add_argument("--eval-tool", type=Path, default=Path("../shared/tools/eval_api.py"))
    ap.add_argument("--ocr", choices=["docloop", "cached"], default="docloop")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "docloop-bench")
    return ap


def read_ocr(args: argparse.Namespace, ids: list[str], eval_tool: Any) -> dict[str, list[OcrToken]]:
    """The OCR ``--ocr`` names for ``ids``."""
    if args.ocr == "cached":
        return rapidocr_lines(args.data)
    return docloop_lines(args.data, ids, eval_tool, args.cache)


@dataclass
class TrainVal:
    """A dataset's train and val splits as ``dataset_arguments`` name them: the scoring tool,
    the val truth and scoring options, the OCR of both splits and the labels."""

    tool: Any
    train_ids: list[str]
    val_ids: list[str]
    truth: dict[str, list[dict[str, Any]]]
    ignore: frozenset[str]
    norm: Callable[[str], str]
    ocr: dict[str, list[OcrToken]]
    labels: list[str]

    @classmethod
    def read(cls, args: argparse.Namespace) -> TrainVal:
        tool = load_eval_tool(args.eval_tool)
        train_ids, val_ids = tool.load_split(args.data, "train"), tool.load_split(args.data, "val")
        truth = {i: tool.annotations(args.data, i) for i in val_ids}
        ignore = args.ignore_extra.read_text().split() if args.ignore_extra else []
        return cls(
            tool, train_ids, val_ids, truth, frozenset(ignore), tool.normalizer(args.normalize),
            read_ocr(args, train_ids + val_ids, tool),
            sorted({o["name"] for objs in truth.values() for o in objs}),
        )  # fmt: skip

    def score(self, preds: Preds) -> dict[str, Any]:
        """``eval_api.py``'s report of ``preds`` on val."""
        return dict(self.tool.score(preds, self.truth, self.norm, self.ignore))


def main() -> None:
    ap = dataset_arguments(__doc__.split("\n")[0])
    ap.add_argument("--tesseract", action="store_true", help="add the Tesseract baseline row")
    ap.add_argument("--no-augmentation-row", action="store_true", help="skip the second training")
    args = ap.parse_args()

    split = TrainVal.read(args)
    tool, train_ids, val_ids, ocr, labels = (
        split.tool,
        split.train_ids,
        split.val_ids,
        split.ocr,
        split.labels,
    )
    rules = plate_rules if labels == ["number_plate"] else receipt_rules
    rows: list[tuple[str, dict[str, Any], float]] = []

    def row(name: str, preds: Preds, seconds: float) -> None:
        rows.append((name, split.score(preds), seconds))
        print(f"{name}: done in {seconds:.0f} s", file=sys.stderr, flush=True)

    t = time.time()
    row("rules / rapidocr", {i: rules(ocr[i]) for i in val_ids}, time.time() - t)
    if args.tesseract:
        if shutil.which("tesseract") is None:
            sys.exit("--tesseract needs the tesseract binary (apt-get install tesseract-ocr)")
        t = time.time()
        row(
            "rules / tesseract",
            {i: rules(tesseract_lines(tool.image_path(args.data, i))) for i in val_ids},
            time.time() - t,
        )

    pages = labelled_pages(args.data, train_ids, ocr, tool)
    config = TrainConfig(epochs=epochs_for(len(pages), 60))
    t = time.time()
    bundle = fit(pages, labels, config)
    assert bundle is not None
    seconds = time.time() - t
    preds = predict_all(FieldPredictor(bundle).predict, args.data, val_ids, ocr, tool)
    row("docloop", preds, seconds)
    for name, changed in (
        ("- box refinement", replace(bundle, refiner=BoxRefiner.fit([]))),
        ("- text correction", replace(bundle, shapes=TextShapeModel.fit([]))),
        ("- known values", replace(bundle, shapes=replace(bundle.shapes, known=KnownValues()))),
        ("- word mending", replace(bundle, reader=replace(bundle.reader, words={}))),
        ("- re-reading", replace(bundle, reader=Rereader())),
    ):
        preds = predict_all(FieldPredictor(changed).predict, args.data, val_ids, ocr, tool)
        row(name, preds, seconds)
    if not args.no_augmentation_row:
        t = time.time()
        plain = replace(config, recuts=0, char_noise=0.0, token_drop=0.0, geo_noise=0.0)
        no_aug: FieldModelBundle | None = fit(pages, labels, plain)
        assert no_aug is not None
        preds = predict_all(FieldPredictor(no_aug).predict, args.data, val_ids, ocr, tool)
        row("- augmentation", preds, time.time() - t)
    if (args.data / "lines").is_dir():
        t = time.time()
        both = with_transcriptions(args.data, pages)
        transcribed = fit(both, labels, replace(config, epochs=epochs_for(len(both), 60)))
        assert transcribed is not None
        preds = predict_all(FieldPredictor(transcribed).predict, args.data, val_ids, ocr, tool)
        row("+ transcriptions", preds, time.time() - t)

    print(f"\n{args.data.name}: train {len(pages)} pages, val {len(val_ids)} files, OCR {args.ocr}")
    print(f"re-reading weights: {bundle.reader.weights}\n")
    print("| system | mean AP50 | micro text F1 | " + " | ".join(labels) + " | train s |")
    print("|---|---|---|" + "---|" * len(labels) + "---|")
    for name, report, secs in rows:
        per = [str(report["per_label"][k]["text_f1"]) for k in labels]
        print(
            f"| {name} | {report['mean_ap50']} | {report['micro_text_f1']} | "
            + " | ".join(per)
            + f" | {secs:.0f} |"
        )
    print(
        "\nNot in the table: fine-tuning the recognizer's weights and synthetic pretraining, "
        "which docloop does not have yet."
    )


if __name__ == "__main__":
    main()
