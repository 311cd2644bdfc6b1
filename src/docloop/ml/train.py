"""``fit``: the one training entry point for field models, written for DDP from the start.

Under ``torchrun`` (or any initialised ``torch.distributed`` group) each process trains on its
shard of the pages and gradients are averaged; alone, it is plain single-process training.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from docloop.domain import FieldPrediction
from docloop.errors import Interrupted
from docloop.ml import confidence
from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.augment import recut_words
from docloop.ml.boxes import BoxRefiner, BoxSample, line_boxes
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.calibration import Calibration
from docloop.ml.data import Example, LabelledPage, collate, make_example, retexted_example
from docloop.ml.decode import Candidate, candidates, score_fields
from docloop.ml.decoding import DecodeConfig
from docloop.ml.export import to_onnx
from docloop.ml.labels import comparable, words_by_field
from docloop.ml.layout import FieldLayout
from docloop.ml.reread import Rereader, words_lattice
from docloop.ml.synthetic.layouts import synthetic_page
from docloop.ml.synthetic.text_sampler import TextSampler
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import join_text, left_word
from docloop.ml.usefulness import PageClusters, layout_embedding

# Words x epochs one training may spend on extra ensemble members (a few minutes on 2 cores).
WORD_EPOCH_BUDGET = 600_000
MAX_MEMBERS = 3  # networks the budget may buy

T = TypeVar("T")
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
    members: int | None = None  # networks averaged; None: as many as the budget allows
    positive_weight: float = 2.0
    char_noise: float = 0.02
    token_drop: float = 0.1
    geo_noise: float = 0.003
    recuts: int = 3
    # Share of the pages a step reads that are fresh synthetic pages (``ml/synthetic``) made
    # from them: the page's layout with new values of its fields' forms. On the dev receipts'
    # learning curve it raised val text F1 at every size (10 files to all 405), on plates it
    # moved it by no more than a plate or two either way (docs/learning-curve.md).
    synthetic: float = 0.5


def split_pages(
    items: Sequence[T], val_every: int, fold: int = 0, keys: Sequence[int] | None = None
) -> tuple[list[T], list[T]]:
    """Items whose key (default: position) is ``fold``-th of every ``val_every`` are held out for
    validation figures; nothing is held out under 10 items. Items sharing a key stay together."""
    if len(items) < 10 or val_every <= 1:
        return list(items), []
    keys = range(len(items)) if keys is None else keys
    held = (val_every // 2 + fold) % val_every
    train = [p for k, p in zip(keys, items, strict=True) if k % val_every != held]
    val = [p for k, p in zip(keys, items, strict=True) if k % val_every == held]
    return train, val


def _split(
    paired: Sequence[tuple[LabelledPage, T]], val_every: int, fold: int, keys: list[int]
) -> tuple[list[tuple[LabelledPage, T]], list[tuple[LabelledPage, T]]]:
    """``split_pages`` over (page, item) pairs; a transcribed page shares its OCR page's key,
    so it falls on the same side, and is held out of validation: the engine's pages are scored."""
    train_set, val_set = split_pages(paired, val_every, fold=fold, keys=keys)
    return train_set, [(p, e) for p, e in val_set if not p.transcribed]


def group_keys(pages: Sequence[LabelledPage]) -> list[int]:
    """Each page's split key. Pages that name their content (``key``, or a near-duplicate
    ``group``) get a key derived from it, so the same page falls in the same fold in every
    training of the model and two versions' validation results share pages; a group's pages
    share a key. Anonymous pages fall back to their position."""
    return [
        int(hashlib.sha256((p.group or p.key).encode()).hexdigest()[:12], 16)
        if (p.group or p.key)
        else i
        for i, p in enumerate(pages)
    ]


def members_for(pages: Sequence[LabelledPage], epochs: int, members: int | None) -> int:
    """How many networks to average: ``members`` when asked for, else as many as the word
    budget allows, at least one and at most ``MAX_MEMBERS``."""
    if members is not None:
        return members
    words = sum(len(p.words) for p in pages)
    return max(1, min(MAX_MEMBERS, WORD_EPOCH_BUDGET // max(words * epochs, 1)))


class Ensemble(nn.Module):
    """Networks trained on different folds, averaged: log of the mean class probabilities, and
    each member's probabilities (members, batch, tokens, classes), whose disagreement tells
    what the training data left undecided (``ml/usefulness.py``)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.stack([torch.softmax(m(*inputs), dim=-1) for m in self.members])
        return torch.log(probs.mean(dim=0) + 1e-9), probs


class Checkpoints(Protocol):
    """Where a member's training state is saved after each epoch, so a killed training resumes."""

    def load(self, member: int) -> dict[str, Any] | None: ...

    def save(self, member: int, state: dict[str, Any], *, force: bool = False) -> None:
        """Keep ``state``; an implementation may skip some epochs unless ``force``."""
        ...


def fit(
    pages: Sequence[LabelledPage],
    labels: Sequence[str],
    config: TrainConfig = TrainConfig(),
    progress: ProgressFn | None = None,
) -> FieldModelBundle | None:
    """Train the field model in one call; returns the bundle on rank 0 and None on other ranks.

    The pipeline runs the same four stages as separate cached steps."""
    examples = build_examples(pages, labels)
    networks = train_members(pages, examples, labels, config, progress)
    if dist.is_initialized() and dist.get_rank() != 0:
        return None
    metrics = evaluate_members(pages, examples, labels, networks, config)
    return export_bundle(pages, examples, labels, networks, metrics)


def build_examples(pages: Sequence[LabelledPage], labels: Sequence[str]) -> list[Example]:
    """Each page's arrays, built once and shared by every member (augmentation copies them)."""
    examples = [make_example(p, list(labels)) for p in pages]
    if not any(len(e.classes) for e in examples):
        raise ValueError("no training page has any OCR text; nothing to learn from")
    return examples


def train_members(
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    config: TrainConfig,
    progress: ProgressFn | None = None,
    checkpoints: Checkpoints | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[FieldTagger]:
    """``members_for`` networks, each holding out a different fold. When ``stop()`` turns
    true, the current epoch ends, its state is saved and ``Interrupted`` is raised.

    One network's validation figures cost a tenth of the data, an ensemble's cost none, and the
    average of a few small networks is much steadier than any one of them."""
    paired = list(zip(pages, examples, strict=True))
    keys = group_keys(pages)
    n_members = members_for(pages, config.epochs, config.members)
    networks = []
    for m in range(n_members):
        train_set, val_set = _split(paired, config.val_every, m, keys)

        def member_progress(fraction: float, info: dict[str, Any], m: int = m) -> None:
            if progress is not None:
                progress((m + fraction) / n_members, {**info, "member": m + 1})

        member_config = replace(config, seed=config.seed + m)
        networks.append(
            _train_network(
                train_set,
                labels,
                member_config,
                member_progress,
                checkpoints,
                m,
                val=[e for _, e in val_set],
                stop=stop,
            )  # fmt: skip
        )
    return networks


def evaluate_members(
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    networks: Sequence[FieldTagger],
    config: TrainConfig,
    decoders: Sequence[Decoders | None] | None = None,
) -> dict[str, Any]:
    """Out-of-fold figures: each page is scored by the network (and decoders) that did not see
    it, so every page counts once and none was seen in training. The same pages' candidate
    fields, marked right or wrong, fit the model's ``calibration`` (under that key), and the
    figures are of the fields as it scores them. ``decoders``: each member's, where they were
    fitted already (``ModelDecoders.members``)."""
    paired = list(zip(pages, examples, strict=True))
    keys = group_keys(pages)
    counts = _Counts(labels)
    for m, net in enumerate(networks):
        train_set, val_set = _split(paired, config.val_every, m, keys)
        if val_set:
            fitted = decoders[m] if decoders is not None else None
            counts.add(net, val_set, fitted or fit_decoders([p for p, _ in train_set], labels))
    calibration = counts.calibrate()
    return {
        "train_pages": len(pages),
        "transcribed_pages": sum(p.transcribed for p in pages),
        "members": len(networks),
        "loss_history": [[round(x, 4) for x in n.loss_history] for n in networks],
        "config": asdict(config),
        **counts.figures(calibration),
        "calibration": calibration.to_dict(),
    }


def export_bundle(
    pages: Sequence[LabelledPage],
    examples: Sequence[Example],
    labels: Sequence[str],
    networks: Sequence[FieldTagger],
    metrics: dict[str, Any],
    recognizer: bytes | None = None,
    decoders: Decoders | None = None,
) -> FieldModelBundle:
    """The servable artifact: the averaged networks as ONNX, decoders fitted on every page (as
    the engine read it; ``decoders`` where they were fitted already), the model's own line
    recognizer when training tuned one that reads better, and the calibration
    ``evaluate_members`` fitted on held-out pages."""
    sample = next(e for e in examples if len(e.classes))
    refiner, shapes, layout, reader = decoders or fit_decoders(pages, labels)
    onnx = to_onnx(Ensemble(networks), sample)
    clusters = PageClusters.fit(
        np.array([layout_embedding(p.words, p.width, p.height) for p in pages if not p.transcribed])
    )
    return FieldModelBundle(
        list(labels),
        onnx,
        refiner,
        shapes,
        layout,
        reader,
        metrics,
        DecodeConfig(),
        recognizer=recognizer,
        clusters=clusters,
        calibration=Calibration.from_dict(metrics.get("calibration")),
    )


Decoders = tuple[BoxRefiner, TextShapeModel, FieldLayout, Rereader]


def fit_decoders(pages: Sequence[LabelledPage], labels: Sequence[str]) -> Decoders:
    """What turns tagged words into fields, learned from the annotations alone."""
    pages = [p for p in pages if not p.transcribed]
    shapes = TextShapeModel.fit((a.label, a.text or "") for p in pages for a in p.annotations)
    fields = [
        (p, ann, words, join_text(words))
        for p in pages
        for ann, words in words_by_field(p.words, p.annotations, labels)
    ]
    shapes.known.tune((ann.label, read, ann.text or "") for _, ann, _, read in fields)
    shapes.learn_detached(
        (ann.label, left_word(p.words, words), read, ann.text or "")
        for p, ann, words, read in fields
    )
    shapes.learn_glued((ann.label, read, ann.text or "") for _, ann, _, read in fields)
    shapes.learn_noise((ann.label, read) for _, ann, _, read in fields)
    reader = Rereader.fit(
        [(ann.label, ann.text or "", words_lattice(words)) for _, ann, words, _ in fields]
    )
    shapes.choose_swaps(reader.held_out)
    refiner = BoxRefiner.fit(_box_samples(pages, labels))
    return refiner, shapes, FieldLayout.fit(pages, labels), reader


@dataclass(frozen=True)
class ModelDecoders:
    """The decoders a training fits on the annotations alone. None needs a trained network,
    so a training fits them all beside its network's (``fit_model_decoders``)."""

    model: Decoders  # fitted on every page: the bundle's
    judged: Decoders | None  # on the pages the recognizer's judgement does not hold out
    members: list[Decoders | None]  # on each member's training pages, for ``evaluate_members``


def fit_model_decoders(
    pages: Sequence[LabelledPage],
    labels: Sequence[str],
    held: Sequence[bool] | None,
    config: TrainConfig,
) -> ModelDecoders:
    """The model's decoders, fitted on every page; where ``held`` says which pages the
    recognizer's judgement holds out, the decoders of the model it judges with, fitted on the
    others; and those each of ``config``'s members is scored with, fitted on the pages it
    trains on (None for a member that holds no page out)."""
    judged = None
    if held is not None:
        judged = fit_decoders([p for p, out in zip(pages, held, strict=True) if not out], labels)
    indexed = [(p, i) for i, p in enumerate(pages)]
    keys = group_keys(pages)
    members: list[Decoders | None] = []
    for m in range(members_for(pages, config.epochs, config.members)):
        train_set, val_set = _split(indexed, config.val_every, m, keys)
        members.append(fit_decoders([p for p, _ in train_set], labels) if val_set else None)
    return ModelDecoders(fit_decoders(pages, labels), judged, members)


def training_device() -> torch.device:
    """This process's GPU when there is one (its LOCAL_RANK under torchrun), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _train_network(
    pages: Sequence[tuple[LabelledPage, Example]],
    labels: Sequence[str],
    config: TrainConfig,
    progress: ProgressFn,
    checkpoints: Checkpoints | None = None,
    member: int = 0,
    val: Sequence[Example] = (),
    stop: Callable[[], bool] | None = None,
) -> FieldTagger:
    """One network, DDP-aware: each rank trains on its shard and gradients are averaged.

    Rank 0 reports each epoch's mean loss, and the loss on ``val`` (the held-out fold).

    With ``checkpoints``, the state after each epoch is saved (by rank 0) and a later call with
    the same inputs resumes from the last saved epoch, with the same random streams; when
    ``stop()`` turns true, the epoch's state is saved whatever the saving schedule and
    ``Interrupted`` is raised (single-process training: ranks have no ``stop``)."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    device = training_device()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed + rank)
    aug_rng = np.random.default_rng(config.seed)
    shard = [
        [example] + [make_example(recut_words(p, aug_rng), labels) for _ in range(config.recuts)]
        for i, (p, example) in enumerate(pages)
        if i % world == rank
    ]
    shard_pages = [p for i, (p, _) in enumerate(pages) if i % world == rank]
    # Values from the pages the engine read (as the decoders learn), never the held-out fold's.
    sampler = (
        TextSampler.fit(
            (a.label, a.text or "") for p, _ in pages if not p.transcribed for a in p.annotations
        )
        if config.synthetic > 0
        else None
    )
    model = FieldTagger(
        len(labels) + 1, dim=config.dim, layers=config.layers, heads=config.heads,
        dropout=config.dropout,
    ).to(device)  # fmt: skip
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    weight = torch.full((len(labels) + 1,), config.positive_weight)
    weight[0] = 1.0
    loss_fn = nn.CrossEntropyLoss(weight=weight.to(device), ignore_index=-100)
    optim = torch.optim.AdamW(
        net.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )
    # Every rank takes the same number of steps, or DDP's all-reduce would wait forever.
    steps_per_epoch = max(1, math.ceil((len(pages) // world) / config.batch_pages))
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=config.lr, total_steps=total, pct_start=0.1
    )
    start = 0
    saved = checkpoints.load(member) if checkpoints is not None else None
    if saved is not None and len(saved["rng"]) == world:  # else the steps would not line up
        model.load_state_dict(saved["model"])
        optim.load_state_dict(saved["optim"])
        sched.load_state_dict(saved["sched"])
        rng.bit_generator.state = saved["rng"][rank]
        torch.set_rng_state(saved["torch_rng"])
        model.loss_history = list(saved["loss_history"])
        start = saved["epoch"]
    for epoch in range(start, config.epochs):
        net.train()
        order = rng.permutation(len(shard)) if shard else np.array([], dtype=int)
        losses = []
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_pages : (step + 1) * config.batch_pages]
            batch = training_batch(idx, shard, shard_pages, labels, sampler, config, rng)
            if batch is None:
                continue
            logits = net(
                *(torch.from_numpy(batch[k]).to(device) for k in ("chars", "geo", "pairs", "mask"))
            )
            loss = loss_fn(
                logits.reshape(-1, logits.shape[-1]),
                torch.from_numpy(batch["classes"]).to(device).reshape(-1),
            )
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            losses.append(loss.item())
        model.loss_history.append(float(np.mean(losses)) if losses else float("nan"))
        stopping = stop is not None and stop()
        if checkpoints is not None:
            _save_checkpoint(checkpoints, member, epoch + 1, model, optim, sched, rng, stopping)
        if rank == 0:
            info = {"epoch": epoch + 1, "loss": model.loss_history[-1]}
            if val:
                info["val_loss"] = _mean_loss(model, val, loss_fn, config.batch_pages, device)
            progress((epoch + 1) / config.epochs, info)
        if stopping:
            raise Interrupted(f"stopped after epoch {epoch + 1} of member {member + 1}, saved")
    model.eval()
    return model.cpu()


def training_batch(
    idx: Sequence[int],
    shard: Sequence[Sequence[Example]],
    pages: Sequence[LabelledPage],
    labels: Sequence[str],
    sampler: TextSampler | None,
    config: TrainConfig,
    rng: np.random.Generator,
) -> dict[str, np.ndarray] | None:
    """One training step's batch: for each page at ``idx``, one of its examples (``shard[i]``:
    the page's own, then its recut copies) or, at ``config.synthetic``'s rate where there is a
    ``sampler``, a synthetic page made from it; padded (``collate``) and noised (``_augment``).
    None when ``idx`` is empty."""
    picked = [shard[i][rng.integers(len(shard[i]))] for i in idx]
    if sampler is not None:
        picked = [
            retexted_example(shard[i][0], synthetic_page(pages[i], labels, sampler, rng), labels)
            if rng.random() < config.synthetic
            else e
            for i, e in zip(idx, picked, strict=True)
        ]
    return _augment(collate(picked) if picked else None, config, rng)


def _mean_loss(
    model: nn.Module,
    examples: Sequence[Example],
    loss_fn: nn.Module,
    batch_pages: int,
    device: torch.device,
) -> float:
    model.eval()
    losses = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_pages):
            b = collate(examples[i : i + batch_pages])
            logits = model(
                *(torch.from_numpy(b[k]).to(device) for k in ("chars", "geo", "pairs", "mask"))
            )
            target = torch.from_numpy(b["classes"]).to(device).reshape(-1)
            if (target != -100).any():
                losses.append(loss_fn(logits.reshape(-1, logits.shape[-1]), target).item())
    return float(np.mean(losses)) if losses else float("nan")


def _save_checkpoint(
    checkpoints: Checkpoints,
    member: int,
    epoch: int,
    model: FieldTagger,
    optim: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    force: bool = False,
) -> None:
    """Rank 0 saves every rank's sampling stream with the weights (all ranks share them);
    ``force`` saves even an epoch the checkpoints' schedule would skip."""
    states = [rng.bit_generator.state]
    if dist.is_initialized():
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, rng.bit_generator.state)
        states = gathered
        if dist.get_rank() != 0:
            return
    checkpoints.save(
        member,
        {
            "epoch": epoch,
            "model": model.state_dict(),
            "optim": optim.state_dict(),
            "sched": sched.state_dict(),
            "rng": states,  # one per rank: its length is the world size
            "torch_rng": torch.get_rng_state(),
            "loss_history": list(model.loss_history),
        },
        force=force,
    )


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
        lines = line_boxes(page.words)
        for ann, words in words_by_field(page.words, page.annotations, labels):
            if words and ann.box is not None:
                samples.append(
                    BoxSample.of_words(ann.label, words, lines, page.width, page.height, ann.box)
                )
    return samples


class _Counts:
    """Validation tallies: per label, pages whose top prediction has the right text, and pages
    whose top box overlaps the annotated one at IoU >= 0.5.

    Pages are decoded as they are added; their fields are scored in ``figures``, once the
    candidates of every held-out page have fitted the calibration the model will serve with,
    so the figures and the confidence histogram describe the scores it serves."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.text = {k: [0, 0] for k in labels}
        self.box = {k: [0, 0] for k in labels}
        # page key -> label -> [text right, box right] (None where not annotated)
        self.pages: dict[str, dict[str, list[bool | None]]] = {}
        # label -> confidence of every field predicted, the drift monitor's reference
        self.scores: dict[str, list[float]] = {k: [] for k in labels}
        # each held-out page with its candidate fields and the layout that ranks them
        self.decoded: list[tuple[LabelledPage, list[Candidate], FieldLayout]] = []

    def add(
        self,
        model: nn.Module,
        pages: Sequence[tuple[LabelledPage, Example]],
        decoders: Decoders,
    ) -> None:
        refiner, shapes, layout, reader = decoders
        for page, ex in pages:
            probs = np.zeros((0, len(self.labels) + 1))
            if len(ex.classes):
                b = collate([ex])
                with torch.no_grad():
                    logits = model(
                        *(torch.from_numpy(b[k]) for k in ("chars", "geo", "pairs", "mask"))
                    )
                probs = torch.softmax(logits[0], -1).numpy()
            found = candidates(
                page.words, probs, self.labels, width=page.width, height=page.height,
                refiner=refiner, shapes=shapes, layout=layout, reader=reader,
            )  # fmt: skip
            self.decoded.append((page, found, layout))

    def calibrate(self) -> Calibration:
        """Every held-out candidate, marked by whether its box hit an annotated box of its
        label at IoU >= 0.5, fits the calibration."""
        return Calibration.fit(
            (c.prediction.label, c.evidence, _hits(c.prediction, page))
            for page, found, _ in self.decoded
            for c in found
        )

    def _tally(self, calibration: Calibration) -> None:
        for page, found, layout in self.decoded:
            preds = score_fields(found, layout, calibration, DecodeConfig().tagged_instances)
            for p in preds:
                self.scores[p.label].append(p.score)
            for ann in page.annotations:
                if ann.label not in self.text:
                    continue
                mine = [p for p in preds if p.label == ann.label]
                top = max(mine, key=lambda p: p.score) if mine else None
                text_ok = box_ok = None
                if ann.text:
                    text_ok = bool(top and comparable(top.text) == comparable(ann.text))
                    self.text[ann.label][1] += 1
                    self.text[ann.label][0] += text_ok
                if ann.box is not None:
                    box_ok = bool(top and top.box.iou(ann.box) >= 0.5)
                    self.box[ann.label][1] += 1
                    self.box[ann.label][0] += box_ok
                if page.key:
                    self.pages.setdefault(page.key, {})[ann.label] = [text_ok, box_ok]

    def figures(self, calibration: Calibration) -> dict[str, Any]:
        """The tallies of the held-out pages' fields as ``calibration`` scores them."""
        self._tally(calibration)

        def ratio(ok: list[int]) -> float | None:
            return round(ok[0] / ok[1], 4) if ok[1] else None

        correct = sum(v[0] for v in self.text.values())
        total = sum(v[1] for v in self.text.values())
        if not total and not any(v[1] for v in self.box.values()):
            return {}
        return {
            "val_fields": total,
            "val_per_label": {
                k: {"text_accuracy": ratio(self.text[k]), "box_iou50": ratio(self.box[k])}
                for k in self.labels
            },
            "val_text_accuracy": ratio([correct, total]),
            "val_pages": self.pages,
            "val_confidence": {
                "edges": list(confidence.EDGES),
                "counts": {k: confidence.histogram(v) for k, v in self.scores.items()},
            },
        }


def _hits(field: FieldPrediction, page: LabelledPage) -> bool:
    """Whether the field's box overlaps an annotated box of its label at IoU >= 0.5."""
    return any(
        a.label == field.label and a.box is not None and field.box.iou(a.box) >= 0.5
        for a in page.annotations
    )
