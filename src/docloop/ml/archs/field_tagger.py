"""A layout-aware transformer that tags each OCR word with the field it belongs to.

Each word is a character CNN embedding plus its geometry; attention between words is biased by
their relative position, so "the amount right of TOTAL" can be learned from a few hundred pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from docloop.ml.features import GEO_DIM, PAIR_DIM, VOCAB_SIZE


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, d = x.shape[0], x.shape[2]
        dh = d // self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(b, -1, 3, self.heads, dh).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, -1, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.ff(self.ln2(x)))


class FieldTagger(nn.Module):
    def __init__(
        self, n_classes: int, dim: int = 96, layers: int = 3, heads: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.heads = heads
        self.char_emb = nn.Embedding(VOCAB_SIZE, 32, padding_idx=0)
        self.char_cnn = nn.Sequential(
            nn.Conv1d(32, dim, 3, padding=1),
            nn.GELU(),
            nn.Conv1d(dim, dim, 3, padding=1),
            nn.GELU(),
        )
        self.geo = nn.Sequential(nn.Linear(GEO_DIM, dim), nn.GELU(), nn.Linear(dim, dim))
        self.pair = nn.Linear(PAIR_DIM, heads * layers)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(layers))
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, n_classes))
        self.loss_history: list[float] = []

    def forward(
        self,
        chars: torch.Tensor,  # B x T x L
        geo: torch.Tensor,  # B x T x GEO_DIM
        pairs: torch.Tensor,  # B x T x T x PAIR_DIM
        key_mask: torch.Tensor,  # B x T, 1.0 for real tokens
    ) -> torch.Tensor:
        b, t, n_chars = chars.shape
        text = self._words(chars.reshape(b * t, n_chars)).reshape(b, t, -1)
        if not self.training:
            return self._tag(text, geo, pairs, key_mask)
        # A batch is padded to its longest page, and the blocks' arithmetic grows with the
        # padded length (their pairwise terms with its square). In training, pages of like
        # length run together, each group cut to its longest page: the real words' logits are
        # the same (a padded word is a masked key and its own logits are never scored), the
        # padding's are left zero.
        logits = text.new_zeros(b, t, self.head[1].out_features)
        ends = torch.where(key_mask > 0, torch.arange(1, t + 1, device=key_mask.device), 0)
        for rows, width in length_groups(ends.amax(dim=1).tolist()):
            idx = torch.tensor(rows, device=chars.device)
            logits[idx, :width] = self._tag(
                text[idx, :width], geo[idx, :width], pairs[idx, :width, :width],
                key_mask[idx, :width],
            )  # fmt: skip
        return logits

    def _tag(
        self, text: torch.Tensor, geo: torch.Tensor, pairs: torch.Tensor, key_mask: torch.Tensor
    ) -> torch.Tensor:
        """Each word's class logits from its text embedding, geometry and layout pairs."""
        x = self.norm(text + self.geo(geo))
        pad_bias = (1.0 - key_mask)[:, None, None, :] * -1e4
        # One B x heads x T x T bias per block. Split, not sliced: the backward of each slice
        # zero-fills a gradient as large as all the blocks' biases together (a receipts step
        # took 10-18% longer with two threads).
        pair_bias = self.pair(pairs).permute(0, 3, 1, 2).split(self.heads, dim=1)
        for block, bias in zip(self.blocks, pair_bias, strict=True):
            x = block(x, bias + pad_bias)
        return self.head(x)

    def _words(self, chars: torch.Tensor) -> torch.Tensor:
        """Each word's embedding from its characters.

        The character CNN is most of a training step's arithmetic, and a batch holds each word
        many times over: padding, and "RM", "TOTAL" or "1" on every receipt. In training each
        distinct word is embedded once (the same sums, so the same gradients) and over no more
        positions than its length asks for (``_embed_trimmed``); export and inference keep the
        plain path, which ONNX Runtime runs as it is.
        """
        if not self.training:
            return self._embed(chars)
        distinct, index = distinct_rows(chars)
        return self._embed_trimmed(distinct)[index]

    def _embed(self, chars: torch.Tensor) -> torch.Tensor:
        return self._convolved(chars).amax(dim=2)

    def _embed_trimmed(self, chars: torch.Tensor) -> torch.Tensor:
        """``_embed`` with each word's convolutions cut to a width of ``_WIDTHS`` that holds
        it: the same values, in about half the arithmetic (most words are a few characters of
        ``MAX_CHARS``).

        Past a word's last character its padding embeds to zero, so the two 3-wide convolutions
        give one vector ``c`` at every position two or more beyond it, and another, ``e``, at
        the last position (whose right neighbour is the convolution's own zero padding). A word
        at most ``width - 3`` long, convolved over ``width`` positions, has its first
        ``width - 1`` outputs exact; every later one is ``c`` or ``e``, taken from the same
        layers run over three padding positions (middle: ``c``, last: ``e``). Longer words run
        at full width.
        """
        n = chars.shape[1]
        ends = torch.where(chars > 0, torch.arange(1, n + 1, device=chars.device), 0)
        lengths = ends.amax(dim=1)
        edge = self._convolved(chars.new_zeros(1, 3))[0]
        beyond = torch.maximum(edge[:, 1], edge[:, 2])
        parts, rows = [], []
        done = torch.zeros_like(lengths, dtype=torch.bool)
        for width in (*(w for w in _WIDTHS if w < n), n):
            pick = ~done & (lengths <= width - 3) if width < n else ~done
            done |= pick
            if not pick.any():
                continue
            index = pick.nonzero().squeeze(1)
            if width < n:
                out = self._convolved(chars[index, :width])[:, :, : width - 1].amax(dim=2)
                parts.append(torch.maximum(out, beyond))
            else:
                parts.append(self._convolved(chars[index]).amax(dim=2))
            rows.append(index)
        return torch.cat(parts)[torch.argsort(torch.cat(rows))]

    def _convolved(self, chars: torch.Tensor) -> torch.Tensor:
        """The character CNN's outputs at every position (words x dim x positions)."""
        return self.char_cnn(self.char_emb(chars).transpose(1, 2))


# Convolution widths the training's character CNN cuts words to (``_embed_trimmed``): a word
# up to 5 characters long runs over 8 positions, up to 9 over 12, longer ones over all
# ``MAX_CHARS``. Receipts' words are mostly a few characters; these widths leave about 46% of
# the full width's arithmetic, more widths save little more and each adds a pass.
_WIDTHS = (8, 12)


# A group's fixed cost (its passes' many small operations), in words of arithmetic, and the
# length at which a word's pairwise terms cost as much as its own (``length_groups``):
# measured on receipts batches, where they made a step's forward and backward about 10%
# shorter than one padded batch; the grouping is the same arithmetic whatever they are.
GROUP_COST_WORDS = 60
PAIR_COST_LENGTH = 100


def length_groups(lengths: Sequence[int]) -> list[tuple[list[int], int]]:
    """Rows of a batch grouped by length, with each group's longest length: the partition of
    the rows sorted by length that costs least, a group costing ``GROUP_COST_WORDS`` plus,
    per row, its width and the width's pairwise share (``PAIR_COST_LENGTH``)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    ordered = [max(lengths[i], 1) for i in order]
    best = [0.0] + [math.inf] * len(order)
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        width = ordered[end - 1]
        for first in range(end):
            rows = end - first
            cost = best[first] + GROUP_COST_WORDS + rows * width * (1 + width / PAIR_COST_LENGTH)
            if cost < best[end]:
                best[end], start[end] = cost, first
    groups = []
    end = len(order)
    while end > 0:
        groups.append((order[start[end] : end], ordered[end - 1]))
        end = start[end]
    return groups[::-1]


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(rows, dim=0, return_inverse=True)`` for character ids: the distinct rows
    in ascending order and each row's index among them. On the CPU numpy sorts the rows as
    bytes, about ten times faster than ``torch.unique``'s row comparisons."""
    if rows.device.type != "cpu" or rows.shape[0] == 0:
        return torch.unique(rows, dim=0, return_inverse=True)
    ids = np.ascontiguousarray(rows.numpy().astype(np.uint8))  # ids < VOCAB_SIZE <= 256
    keys = ids.view(np.dtype((np.void, ids.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[torch.from_numpy(first)], torch.from_numpy(inverse.reshape(-1))
