"""Fine-tuning the shipped recognizer on a model's own field lines (CTC), within minutes on a CPU.

The recognizer's convolutional trunk stays frozen and only what follows its last pooling layer
(the sequence neck and the per-character layer) trains, so each line's trunk features are
computed once per augmented copy (``TuneConfig.copies``) and every epoch after that costs the
neck alone: on 2 cores a batch of 32 plate lines took 2.5 CPU seconds through the trunk and
0.3 through the neck, forward and backward. The copies come from albumentations (blur,
perspective, brightness and contrast, noise, JPEG artefacts, small rotations and shears): what a
phone photo of the same plate does to it.

The figures on held-out lines (exact reads by the tuned recognizer, by the shipped one on the
same crops and by the engine itself) describe the tuning; whether the tuned weights serve is
decided on what serving returns with them (``choice.py``).
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from docloop.apart import check_parent, report, run_apart
from docloop.ml.decoding import DecodeConfig
from docloop.ml.recognizer import crops as crop_ops
from docloop.ml.recognizer.onnx_graph import OnnxGraph, with_weights

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network

POOLS = ("AveragePool", "MaxPool")


@dataclass(frozen=True)
class TuneConfig:
    epochs: int = 10
    lr: float = 3e-4
    weight_decay: float = 0.01
    batch: int = 32
    copies: int = 2  # augmented copies of each line, besides the line itself, at most
    # Padded pixel columns (at the recognizer's height) that go through the frozen trunk, lines
    # and copies together: fewer copies where the lines are many and wide, and a sample of the
    # lines where even they do not fit. The trunk costs about 315 CPU microseconds a column on
    # one core of the 2-core dev machine, so this is about 190 s, half of what the network's
    # training of 405 receipts takes, beside which the tuning runs. Copies show a few lines
    # the distortions of other photos; many lines show them already: 1,574 receipt lines read
    # `val` as well without copies after 10 epochs (0.888 of fields exact) as with two after
    # one (0.892).
    trunk_columns: int = 600_000
    seed: int = 0
    # Training stops after the epoch that passes this many seconds of its thread's CPU time,
    # counted from the trunk features done: wall time would give a busy machine fewer epochs,
    # and so another recognizer, than an idle one for the same pages, and the process's time
    # would count a network trained beside it.
    budget_s: float = 90.0
    neck: bool = True  # train the sequence neck too, not only the per-character layer
    # Lines are tuned as the model will read them (``DecodeConfig.line_max_width``).
    max_width: int = DecodeConfig().line_max_width


@dataclass(frozen=True)
class Line:
    """A line crop (BGR uint8) and the text it shows; ``field`` names the field it belongs to,
    so a field is read right only when all its lines are."""

    crop: np.ndarray
    text: str
    field: str
    reading: str | None = None  # the engine's own reading of the line, where known


@dataclass
class Tuned:
    onnx: bytes
    figures: dict[str, Any] = field(default_factory=dict)


class Recognizer:
    """The recognizer's graph as a torch module, split where its frozen trunk ends: after its
    last pooling layer (``neck``: the sequence neck and the per-character layer train) or just
    before the per-character layer (only it trains)."""

    def __init__(self, model_bytes: bytes, neck: bool = True) -> None:
        self.proto = onnx.load_from_string(model_bytes)
        self.graph = OnnxGraph(self.proto)
        self.characters = [*self.graph.metadata["character"].split("\n"), " "]
        self.index = {c: i + 1 for i, c in enumerate(self.characters)}
        nodes = self.graph.nodes
        last = nodes[-1]
        if last[0] != "Softmax":
            raise ValueError("the recognizer does not end in a softmax over its characters")
        self.logits_name = last[1][0]
        self.cut, self.trunk_output = _cut(
            nodes, _last(nodes, POOLS) + 1 if neck else _last(nodes, ("MatMul",))
        )
        head_inputs = {i for n in nodes[self.cut :] for i in n[1] if i in self.graph.slots}
        for name, param in self.graph.named_weights():
            param.requires_grad_(param.requires_grad and name in head_inputs)

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.graph.weights if p.requires_grad]

    def encode(self, text: str) -> list[int] | None:
        """Class ids of ``text``; None when a character is not among the recognizer's."""
        ids = [self.index.get(c) for c in text]
        return None if any(i is None for i in ids) else [int(i) for i in ids if i is not None]

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph.run({self.graph.input_name: x}, self.trunk_output, stop=self.cut)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Per-step logits (N, T, classes) from trunk features."""
        return self.graph.run(
            {self.trunk_output: features}, self.logits_name, start=self.cut, stop=-1
        )

    def read(self, images: Sequence[np.ndarray], device: torch.device, max_width: int) -> list[str]:
        """Greedy CTC readings of crops, batched by padded width."""
        out: dict[int, str] = {}
        with torch.no_grad():
            for width, idx in _buckets(images, max_width).items():
                for s in range(0, len(idx), 64):
                    part = idx[s : s + 64]
                    x = torch.from_numpy(crop_ops.batch([images[i] for i in part], width))
                    logits = self.head(self.trunk(x.to(device)))
                    for i, steps in zip(part, logits.argmax(-1).cpu().numpy(), strict=True):
                        out[i] = self.decode(steps)
        return [out[i] for i in range(len(images))]

    def decode(self, steps: np.ndarray) -> str:
        chars, previous = [], 0
        for k in steps.tolist():
            if k != previous and k != 0:
                chars.append(self.characters[k - 1])
            previous = k
        return "".join(chars)


def _last(nodes: Sequence[tuple[str, Any, Any, Any]], ops: Sequence[str]) -> int:
    return max(i for i, n in enumerate(nodes) if n[0] in ops)


def _cut(nodes: Sequence[tuple[str, list[str], list[str], Any]], limit: int) -> tuple[int, str]:
    """The latest node index at or before ``limit`` where the nodes after read only one value
    the nodes before made, and that value's name."""
    made = {o: i for i, n in enumerate(nodes) for o in n[2]}
    last_use: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for name in n[1]:
            if name in made:
                last_use[name] = i
    for k in range(limit, 0, -1):
        crossing = [t for t, i in made.items() if i < k <= last_use.get(t, -1)]
        if len(crossing) == 1:
            return k, crossing[0]
    raise ValueError("the recognizer has no point where its trunk hands one value on")


def augmenter(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A random photo-like distortion of a BGR line crop."""
    import albumentations as A
    import cv2

    pipeline = A.Compose(
        [
            A.Affine(
                rotate=(-3, 3),
                shear=(-6, 6),
                scale=(0.92, 1.05),
                translate_percent=(-0.03, 0.03),
                border_mode=cv2.BORDER_REPLICATE,
                p=0.8,
            ),  # fmt: skip
            A.Perspective(scale=(0.01, 0.04), border_mode=cv2.BORDER_REPLICATE, p=0.3),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 5))], p=0.3),
            A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.7),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.3),
            A.ImageCompression(quality_range=(30, 90), p=0.4),
        ],
        seed=seed,
    )
    return lambda image: pipeline(image=image)["image"]


def tune(
    model_bytes: bytes,
    train: Sequence[Line],
    held: Sequence[Line],
    config: TuneConfig = TuneConfig(),  # noqa: B008 (frozen, so safe to share)
    device: torch.device | None = None,
    progress: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Tuned:
    """The recognizer tuned on ``train``, with its exact reads of the ``held`` fields next to the
    shipped graph's on the same crops and the engine's own readings. ``check`` is called
    between batches and raises to stop."""
    started, cpu = time.time(), time.thread_time()
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(config.seed)
    rec = Recognizer(model_bytes, config.neck)
    rec.graph.to(device)
    encoded = [(line, ids) for line in train if (ids := rec.encode(line.text))]
    usable, copies = within_trunk_budget(encoded, config)
    config = replace(config, copies=copies)
    figures: dict[str, Any] = {
        "train_lines": len(usable), "lines_left_out": len(encoded) - len(usable),
        "copies": copies, "held_lines": len(held),
    }  # fmt: skip
    stock = _fields_right(held, rec.read([line.crop for line in held], device, config.max_width))
    engine = _engine_right(held)
    losses = _fit(rec, usable, config, device, progress, check) if usable else []
    tuned = _fields_right(held, rec.read([line.crop for line in held], device, config.max_width))
    figures.update(
        held_fields=len({line.field for line in held}),
        held_exact_stock=stock,
        held_exact_engine=engine,
        held_exact_tuned=tuned,
        losses=[round(x, 4) for x in losses],
        seconds=round(time.time() - started, 1),
        cpu_seconds=round(time.thread_time() - cpu, 1),
    )
    rec.graph.cpu()
    return Tuned(with_weights(rec.proto, rec.graph), figures)


def tune_apart(
    model_bytes: bytes,
    train: Sequence[Line],
    held: Sequence[Line],
    config: TuneConfig,
    threads: int,
    progress: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Tuned:
    """``tune`` in a process of its own (``docloop/apart.py``) with ``threads`` PyTorch threads,
    so it can run beside a network's training; its epoch lines go to ``progress``, and it is
    terminated when ``check`` raises."""
    args = (model_bytes, list(train), list(held), config)
    return run_apart(_tune_in_child, args, "docloop-recognizer-tune", threads, progress, check)


def _tune_in_child(
    model_bytes: bytes, train: list[Line], held: list[Line], config: TuneConfig
) -> Tuned:
    return tune(model_bytes, train, held, config, progress=report, check=check_parent)


def within_trunk_budget(
    lines: Sequence[tuple[Line, list[int]]], config: TuneConfig
) -> tuple[list[tuple[Line, list[int]]], int]:
    """The lines to tune on and how many augmented copies of each, within
    ``config.trunk_columns``: every line with as many copies as fit (``config.copies`` at
    most), or, where the lines alone do not fit, a seeded sample of them that does, without
    copies."""
    widths = [crop_ops.bucket(line.crop, config.max_width) for line, _ in lines]
    total = sum(widths)
    if total <= config.trunk_columns:
        fit = config.trunk_columns // max(total, 1) - 1
        return list(lines), max(0, min(config.copies, fit))
    kept, used = [], 0
    for i in random.Random(config.seed).sample(range(len(lines)), len(lines)):
        if used + widths[i] <= config.trunk_columns:
            kept.append(i)
            used += widths[i]
    return [lines[i] for i in sorted(kept)], 0


def _fields_right(lines: Sequence[Line], readings: Sequence[str]) -> int:
    """Fields whose every line reads exactly as annotated (whitespace aside)."""
    right: dict[str, bool] = defaultdict(lambda: True)
    for line, reading in zip(lines, readings, strict=True):
        right[line.field] &= "".join(reading.split()) == "".join(line.text.split())
    return sum(right.values())


def _engine_right(lines: Sequence[Line]) -> int | None:
    """Fields the engine itself read right, line by line (it cuts each line along its tilt,
    tighter than the upright box a line is re-read from); None where a reading is unknown."""
    if any(line.reading is None for line in lines):
        return None
    return _fields_right(lines, [line.reading or "" for line in lines])


def _fit(
    rec: Recognizer,
    lines: Sequence[tuple[Line, list[int]]],
    config: TuneConfig,
    device: torch.device,
    progress: Callable[[str], None] | None,
    check: Callable[[], None] | None,
) -> list[float]:
    """CTC training of the neck and head on cached trunk features; the mean loss per epoch."""
    features = _features(rec, lines, config, device, check)
    started = time.thread_time()
    params = rec.trainable()
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    batches = [
        (width, order[s : s + config.batch])
        for width, (feats, _) in features.items()
        for order in [list(range(len(feats)))]
        for s in range(0, len(order), config.batch)
    ]
    losses = []
    for epoch in range(config.epochs):
        for width in features:
            rng.shuffle(features[width][1])
        rng.shuffle(batches)
        total, count = 0.0, 0
        for width, slots in batches:
            if check is not None:
                check()
            feats, targets = features[width]
            chosen = [targets[i] for i in slots]
            x = feats[[t[0] for t in chosen]]
            log_probs = F.log_softmax(rec.head(x), dim=-1).transpose(0, 1)  # (T, N, C)
            labels = [t[1] for t in chosen]
            loss = F.ctc_loss(
                log_probs,
                torch.tensor([k for lab in labels for k in lab], device=device),
                torch.full((len(labels),), log_probs.shape[0], dtype=torch.long),
                torch.tensor([len(lab) for lab in labels]),
                zero_infinity=True,
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        losses.append(total / max(count, 1))
        if progress is not None:
            progress(f"recognizer epoch {epoch + 1}: CTC loss {losses[-1]:.4f}")
        if time.thread_time() - started > config.budget_s:
            break
    return losses


def _features(
    rec: Recognizer,
    lines: Sequence[tuple[Line, list[int]]],
    config: TuneConfig,
    device: torch.device,
    check: Callable[[], None] | None,
) -> dict[int, tuple[torch.Tensor, list[tuple[int, list[int]]]]]:
    """Per padded width: trunk features of every line and of its augmented copies, and
    (feature row, target ids) pairs, one per row."""
    distort = augmenter(config.seed)
    images: list[np.ndarray] = []
    targets: list[list[int]] = []
    for line, ids in lines:
        for copy in range(config.copies + 1):
            images.append(line.crop if copy == 0 else distort(line.crop))
            targets.append(ids)
    out = {}
    with torch.no_grad():
        for width, idx in _buckets(images, config.max_width).items():
            parts = []
            for s in range(0, len(idx), 64):
                if check is not None:
                    check()
                x = crop_ops.batch([images[i] for i in idx[s : s + 64]], width)
                parts.append(rec.trunk(torch.from_numpy(x).to(device)))
            out[width] = (torch.cat(parts), [(row, targets[i]) for row, i in enumerate(idx)])
    return out


def _buckets(images: Sequence[np.ndarray], max_width: int) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        found[crop_ops.bucket(image, max_width)].append(i)
    return dict(found)
