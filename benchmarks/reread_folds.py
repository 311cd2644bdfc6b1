"""Re-reading alone, in seconds: how many held-out fields the label's re-reader reads as annotated.

A change to re-reading (``docloop/ml/reread.py``: the character model, word mending, the
punctuation channel) is measured here before a whole model is trained on it: the training split
is cut into ``--folds`` folds by position, each fold's fields are re-read from the engine's
lattice of the words their annotated box holds, by a ``Rereader`` fitted on the other folds'
fields, and ``val``'s by one fitted on all of ``train``. A field counts when its reading equals
its annotation, upper case and whitespace aside, as training compares them. No network is
trained, so the figures say nothing of which words a model tags: ``fold_quality.py`` measures
that, and decides. OCR as in ``quality_table.py``.

    python benchmarks/reread_folds.py --data ../shared/datasets/receipts --normalize nospace
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from quality_table import TrainVal, dataset_arguments, labelled_pages

from docloop.ml.data import LabelledPage
from docloop.ml.labels import comparable, words_by_field
from docloop.ml.lattice import greedy
from docloop.ml.reread import Rereader, words_lattice


def read_right(
    train: Sequence[LabelledPage], test: Sequence[LabelledPage], labels: Sequence[str]
) -> tuple[Counter[str], Counter[str]]:
    """Per label, the ``test`` fields with a text and a lattice, and those a re-reader fitted
    on ``train`` reads as annotated."""
    fitted = Rereader.fit(
        [
            (ann.label, ann.text or "", words_lattice(words))
            for page in train
            for ann, words in words_by_field(page.words, page.annotations, labels)
        ]
    )
    fields: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for page in test:
        for ann, words in words_by_field(page.words, page.annotations, labels):
            lattice = words_lattice(words) if words and ann.text else None
            if lattice is None or not ann.text:
                continue
            reading = fitted.reread(ann.label, words)
            fields[ann.label] += 1
            read = greedy(lattice) if reading is None else reading
            right[ann.label] += comparable(read) == comparable(ann.text)
    return fields, right


def row(name: str, labels: Sequence[str], fields: Counter[str], right: Counter[str]) -> str:
    cells = [f"{right[label]} / {fields[label]}" for label in labels]
    cells.append(f"{sum(right.values())} / {sum(fields.values())}")
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    ap = dataset_arguments(__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    data = TrainVal.read(args)
    train = labelled_pages(args.data, data.train_ids, data.ocr, data.tool)
    val = labelled_pages(args.data, data.val_ids, data.ocr, data.tool)
    fields: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for fold in range(args.folds):
        held = [p for i, p in enumerate(train) if i % args.folds == fold]
        rest = [p for i, p in enumerate(train) if i % args.folds != fold]
        found, read = read_right(rest, held, data.labels)
        fields.update(found)
        right.update(read)
    print(f"{args.data.name}: fields re-read as annotated\n")
    print("| | " + " | ".join(data.labels) + " | all |")
    print("|---" * (len(data.labels) + 2) + "|")
    print(row(f"{args.folds} folds of train", data.labels, fields, right))
    print(row("val", data.labels, *read_right(train, val, data.labels)))


if __name__ == "__main__":
    main()
