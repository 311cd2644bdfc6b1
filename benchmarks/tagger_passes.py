"""The field tagger's training passes: padded against cut to each word and page.

Builds the training examples of a dataset's ``train`` split (docloop's OCR, cached under
``--cache`` as ``quality_table.py`` keeps it), draws ``--batches`` random batches of 8 pages and
times one forward and backward pass of each, two ways, alternating, ``--rounds`` times over:

- **padded**: every word convolved over all ``MAX_CHARS`` positions (each distinct word once,
  found by ``torch.unique``) and the batch's pages in one pass padded to its longest page, as
  training ran before;
- **cut**: the network's own training forward, which convolves each distinct word over a width
  cut to its length and runs the pages in groups of like length (``archs/field_tagger.py``).

Prints each way's median milliseconds a batch and their ratio, and the median milliseconds of
making a batch as training does (``train.training_batch``: synthetic pages at the training's
rate, their features, padding and noise), the part of a step that is not the network's. One
PyTorch thread, as training runs by default.

    python benchmarks/tagger_passes.py --data ../shared/datasets/receipts
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from quality_table import docloop_lines, labelled_pages, load_eval_tool

from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.data import Example, LabelledPage, collate
from docloop.ml.synthetic.text_sampler import TextSampler
from docloop.ml.train import TrainConfig, build_examples, training_batch

INPUTS = ("chars", "geo", "pairs", "mask")


def padded_forward(model: FieldTagger, batch: dict[str, np.ndarray]) -> torch.Tensor:
    """The training forward as it was: distinct words by ``torch.unique``, every word over all
    positions, one pass over the padded batch."""
    chars, geo, pairs, mask = (torch.from_numpy(batch[k]) for k in INPUTS)
    b, t, n = chars.shape
    distinct, index = torch.unique(chars.reshape(b * t, n), dim=0, return_inverse=True)
    text = model._embed(distinct)[index].reshape(b, t, -1)
    return model._tag(text, geo, pairs, mask)


def cut_forward(model: FieldTagger, batch: dict[str, np.ndarray]) -> torch.Tensor:
    return model(*(torch.from_numpy(batch[k]) for k in INPUTS))


def timed(
    model: FieldTagger,
    forward: Callable[[FieldTagger, dict[str, np.ndarray]], torch.Tensor],
    batches: list[dict[str, np.ndarray]],
) -> list[float]:
    """Seconds of each batch's forward, loss and backward."""
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        logits = forward(model, batch)
        loss = loss_fn(
            logits.reshape(-1, logits.shape[-1]), torch.from_numpy(batch["classes"]).reshape(-1)
        )
        model.zero_grad()
        loss.backward()
        seconds.append(time.perf_counter() - start)
    return seconds


def batch_making(
    pages: Sequence[LabelledPage], examples: Sequence[Example], labels: list[str], batches: int
) -> float:
    """Median milliseconds ``training_batch`` takes for a random batch of 8 pages, with the
    training's default share of synthetic pages made from the pages' own annotations."""
    config = TrainConfig()
    sampler = TextSampler.fit((a.label, a.text or "") for p in pages for a in p.annotations)
    shard = [[e] for e in examples]
    rng = np.random.default_rng(0)
    seconds = []
    for _ in range(batches):
        idx = rng.choice(len(pages), config.batch_pages, replace=False)
        start = time.perf_counter()
        training_batch(idx, shard, pages, labels, sampler, config, rng)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--eval-tool", type=Path, default=Path("../shared/tools/eval_api.py"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "docloop-bench")
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tool = load_eval_tool(args.eval_tool)
    ids = tool.load_split(args.data, "train")
    pages = labelled_pages(args.data, ids, docloop_lines(args.data, ids, tool, args.cache), tool)
    labels = sorted({a.label for p in pages for a in p.annotations})
    examples = build_examples(pages, labels)
    rng = np.random.default_rng(0)
    batches = [
        collate([examples[i] for i in rng.choice(len(examples), 8, replace=False)])
        for _ in range(args.batches)
    ]
    torch.manual_seed(0)
    model = FieldTagger(len(labels) + 1).train()
    ways = {"padded": padded_forward, "cut": cut_forward}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, forward in ways.items():
            seconds[name] += timed(model, forward, batches)
    medians = {name: statistics.median(s) * 1000 for name, s in seconds.items()}
    making = batch_making(pages, examples, labels, args.batches * args.rounds)
    words = [int(b["mask"].sum()) for b in batches]
    print(f"{len(batches)} batches of 8 pages, {statistics.median(words):.0f} words median")
    for name, ms in medians.items():
        print(f"{name}: {ms:.1f} ms a forward and backward (median)")
    print(f"cut / padded: {medians['cut'] / medians['padded']:.3f}")
    print(f"making a batch as training does: {making:.1f} ms (median)")


if __name__ == "__main__":
    main()
