"""A layout-aware transformer that tags each OCR word with the field it belongs to.

Each word is a character CNN embedding plus its geometry; attention between words is biased by
their relative position, so "the amount right of TOTAL" can be learned from a few hundred pages.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from docloop.ml.archs.trimming import convolution_widths, distinct_rows, length_groups
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
        ends = torch.where(key_mask > 0, torch.arange(1, t + 1, device=key_mask.device), 0)
        groups = length_groups(ends.amax(dim=1).tolist())
        if len(groups) == 1 and groups[0][1] == t:
            return self._tag(text, geo, pairs, key_mask)
        logits = text.new_zeros(b, t, self.head[1].out_features)
        for rows, width in groups:
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
        """``_embed`` with each word's convolutions cut to the width its length needs (widths
        chosen by ``convolution_widths``): the same values, in about half the arithmetic where
        words are many and short.

        Past a word's last character its padding embeds to zero, so the two 3-wide convolutions
        give one vector ``c`` at every position two or more beyond it, and another, ``e``, at
        the last position (whose right neighbour is the convolution's own zero padding). A word
        at most ``width - 3`` long, convolved over ``width`` positions, has its first
        ``width - 1`` outputs exact; every later one is ``c`` or ``e``, taken from the same
        layers run over three padding positions (middle: ``c``, last: ``e``). A word run at
        full width needs neither.
        """
        n = chars.shape[1]
        ends = torch.where(chars > 0, torch.arange(1, n + 1, device=chars.device), 0)
        needs = (ends.amax(dim=1) + 3).clamp(max=n)
        widths = convolution_widths(needs.tolist(), n)
        if widths == [n]:
            return self._embed(chars)
        edge = self._convolved(chars.new_zeros(1, 3))[0]
        beyond = torch.maximum(edge[:, 1], edge[:, 2])
        parts, rows, low = [], [], 0
        for width in widths:
            index = ((needs > low) & (needs <= width)).nonzero().squeeze(1)
            low = width
            if width < n:
                out = self._convolved(chars[index, :width])[:, :, : width - 1].amax(dim=2)
                parts.append(torch.maximum(out, beyond))
            else:
                parts.append(self._embed(chars[index]))
            rows.append(index)
        return torch.cat(parts)[torch.argsort(torch.cat(rows))]

    def _convolved(self, chars: torch.Tensor) -> torch.Tensor:
        """The character CNN's outputs at every position (words x dim x positions)."""
        return self.char_cnn(self.char_emb(chars).transpose(1, 2))
