"""``fit``: the one training entry point for field models, written for DDP from the start.

Under ``torchrun`` (or any initialised ``torch.distributed`` group) each process trains on its
shard of the pages and gradients are averaged; alone, it is plain single-process training.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.augment import recut_words
from docloop.ml.boxes import BoxRefiner, BoxSample, line_boxes
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.data import Example, LabelledPage, collate, make_example
from docloop.ml.decode import group_fields
from docloop.ml.export import to_onnx
from docloop.ml.labels import assign
from docloop.ml.layout import FieldLayout
from docloop.ml.textshape import TextShapeModel

ProgressFn = Callable[[float, dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    lr: float = 2e-3
    weight_decay: float = 0.01
    batch_pages: int = 8
    dim: int = 96
    layers: int = 3
    heads: int = 4
    dropout: float = 0.1
    seed: int = 0
    val_every: int = 10
    positive_weight: float = 2.0
    char_noise: float = 0.02
    token_drop: float = 0.1
    geo_noise: float = 0.003
    recuts: int = 3


def split_pages(
    pages: Sequence[LabelledPage], val_every: int
) -> tuple[list[LabelledPage], list[LabelledPage]]:
    """Every ``val_every``-th page is held out for validation figures (none under 10 pages)."""
    if len(pages) < 10 or val_every <= 1:
        return list(pages), []
    train = [p for i, p in enumerate(pages) if i % val_every != val_every // 2]
    val = [p for i, p in enumerate(pages) if i % val_every == val_every // 2]
    return train, val


def fit(
    pages: Sequence[LabelledPage],
    labels: Sequence[str],
    config: TrainConfig = TrainConfig(),
    progress: ProgressFn | None = None,
) -> FieldModelBundle | None:
    """Train a field tagger; returns the bundle on rank 0 and None on other ranks."""
    started = time.time()
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    labels = list(labels)
    rng = np.random.default_rng(config.seed + rank)
    aug_rng = np.random.default_rng(config.seed)
    train_pages, val_pages = split_pages(pages, config.val_every)
    examples = [make_example(p, labels) for p in train_pages]
    shard = [
        [examples[i]]
        + [make_example(recut_words(p, aug_rng), labels) for _ in range(config.recuts)]
        for i, p in enumerate(train_pages)
        if i % world == rank
    ]

    model = FieldTagger(
        len(labels) + 1, dim=config.dim, layers=config.layers, heads=config.heads,
        dropout=config.dropout,
    )  # fmt: skip
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    weight = torch.full((len(labels) + 1,), config.positive_weight)
    weight[0] = 1.0
    loss_fn = nn.CrossEntropyLoss(weight=weight, ignore_index=-100)
    optim = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # Every rank takes the same number of steps, or DDP's all-reduce would wait forever.
    steps_per_epoch = max(1, math.ceil((len(examples) // world) / config.batch_pages))
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=config.lr, total_steps=total, pct_start=0.1
    )
    history: list[float] = []
    for epoch in range(config.epochs):
        net.train()
        order = rng.permutation(len(shard)) if shard else np.array([], dtype=int)
        losses = []
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_pages : (step + 1) * config.batch_pages]
            picked = [shard[i][rng.integers(len(shard[i]))] for i in idx]
            batch = _augment(collate(picked) if picked else None, config, rng)
            if batch is None:
                continue
            logits = net(*(torch.from_numpy(batch[k]) for k in ("chars", "geo", "pairs", "mask")))
            loss = loss_fn(
                logits.reshape(-1, logits.shape[-1]), torch.from_numpy(batch["classes"]).reshape(-1)
            )
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)) if losses else float("nan"))
        if progress is not None and rank == 0:
            progress((epoch + 1) / config.epochs, {"epoch": epoch + 1, "loss": history[-1]})
    if rank != 0:
        return None

    shapes = TextShapeModel.fit((a.label, a.text or "") for p in train_pages for a in p.annotations)
    refiner = BoxRefiner.fit(_box_samples(train_pages, labels))
    layout = FieldLayout.fit(train_pages, labels)
    model.eval()
    metrics: dict[str, Any] = {
        "train_pages": len(train_pages),
        "val_pages": len(val_pages),
        "loss_history": [round(x, 4) for x in history],
        "train_seconds": round(time.time() - started, 1),
        "config": asdict(config),
    }
    metrics.update(evaluate(model, val_pages, labels, refiner, shapes, layout))
    sample = next((e for e in examples if len(e.classes)), None)
    if sample is None:
        raise ValueError("no training page has any OCR text; nothing to learn from")
    return FieldModelBundle(labels, to_onnx(model, sample), refiner, shapes, layout, metrics)


def _augment(
    batch: dict[str, np.ndarray] | None, config: TrainConfig, rng: np.random.Generator
) -> dict[str, np.ndarray] | None:
    """Layout jitter, character noise and dropped background words: cheap, on the arrays."""
    if batch is None:
        return None
    real = batch["mask"] > 0
    batch["geo"][:, :, :8] += rng.normal(0, config.geo_noise, batch["geo"][:, :, :8].shape)
    chars = batch["chars"]
    noise = (rng.random(chars.shape) < config.char_noise) & (chars > 0)
    chars[noise] = rng.integers(1, 96, int(noise.sum()))
    drop = real & (batch["classes"] == 0) & (rng.random(real.shape) < config.token_drop)
    batch["mask"][drop] = 0.0
    batch["classes"][drop] = -100
    return batch


def _box_samples(pages: Sequence[LabelledPage], labels: Sequence[str]) -> list[BoxSample]:
    """Each annotated box with the words the labelling rule gave it: what the refiner learns."""
    samples = []
    for page in pages:
        _, owner = assign(page.words, page.annotations, labels)
        lines = line_boxes(page.words)
        for a_idx, ann in enumerate(page.annotations):
            words = [w for w, o in zip(page.words, owner, strict=True) if o == a_idx]
            if words and ann.box is not None:
                samples.append(
                    BoxSample.of_words(ann.label, words, lines, page.width, page.height, ann.box)
                )
    return samples


def _norm(text: str) -> str:
    return "".join(text.upper().split())


def evaluate(
    model: nn.Module,
    pages: Sequence[LabelledPage],
    labels: Sequence[str],
    refiner: BoxRefiner,
    shapes: TextShapeModel,
    layout: FieldLayout,
) -> dict[str, Any]:
    """Validation figures: per label, share of pages whose top prediction has the right text
    and share whose top box overlaps the annotated one at IoU >= 0.5."""
    if not pages:
        return {}
    text_ok = {k: [0, 0] for k in labels}
    box_ok = {k: [0, 0] for k in labels}
    with torch.no_grad():
        for page in pages:
            ex: Example = make_example(page, labels)
            if len(ex.classes):
                b = collate([ex])
                logits = model(*(torch.from_numpy(b[k]) for k in ("chars", "geo", "pairs", "mask")))
                probs = torch.softmax(logits[0], -1).numpy()
            else:
                probs = np.zeros((0, len(labels) + 1))
            preds = group_fields(
                page.words, probs, labels, width=page.width, height=page.height,
                refiner=refiner, shapes=shapes, layout=layout,
            )  # fmt: skip
            for ann in page.annotations:
                if ann.label not in text_ok:
                    continue
                mine = [p for p in preds if p.label == ann.label]
                top = max(mine, key=lambda p: p.score) if mine else None
                if ann.text:
                    text_ok[ann.label][1] += 1
                    text_ok[ann.label][0] += bool(top and _norm(top.text) == _norm(ann.text))
                if ann.box is not None:
                    box_ok[ann.label][1] += 1
                    box_ok[ann.label][0] += bool(top and top.box.iou(ann.box) >= 0.5)
    per_label = {
        k: {
            "text_accuracy": round(text_ok[k][0] / text_ok[k][1], 4) if text_ok[k][1] else None,
            "box_iou50": round(box_ok[k][0] / box_ok[k][1], 4) if box_ok[k][1] else None,
        }
        for k in labels
    }
    correct = sum(v[0] for v in text_ok.values())
    total = sum(v[1] for v in text_ok.values())
    return {
        "val_per_label": per_label,
        "val_text_accuracy": round(correct / total, 4) if total else None,
    }
