"""The field tagger's training-time shortcuts: each must give what the plain path gives."""

from __future__ import annotations

import pytest
import torch

from docloop.ml.archs.field_tagger import FieldTagger
from docloop.ml.archs.trimming import convolution_widths, distinct_rows, length_groups
from docloop.ml.features import GEO_DIM, MAX_CHARS, PAIR_DIM


def _words_of_every_length(repeats: int = 20) -> torch.Tensor:
    """Rows of character ids of every length from 0 (padding) to ``MAX_CHARS``, some repeated."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.arange(MAX_CHARS + 1).repeat(repeats)
    chars = torch.randint(1, 96, (len(lengths), MAX_CHARS), generator=g)
    chars[torch.arange(MAX_CHARS)[None, :] >= lengths[:, None]] = 0
    return torch.cat([chars, chars[:10]])


def _gradients(model: FieldTagger) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_training_embeds_each_distinct_word_once_over_its_own_width_with_the_same_results() -> None:
    """Training embeds each distinct word once, convolved over a width cut to its length; the
    embeddings and every gradient are those of the plain path, for words of every length."""
    torch.manual_seed(0)
    model = FieldTagger(n_classes=3)
    chars = _words_of_every_length()
    needs = ((chars > 0).sum(dim=1) + 3).clamp(max=MAX_CHARS).tolist()
    assert len(convolution_widths(needs, MAX_CHARS)) > 2  # cut, at more than one width
    results = []
    for training in (False, True):
        model.zero_grad()
        model.train(training)
        out = model._words(chars)
        (out * torch.linspace(0.5, 1.5, out.numel()).reshape(out.shape)).sum().backward()
        results.append((out.detach(), _gradients(model)))
    (plain, plain_grads), (trimmed, trimmed_grads) = results
    assert torch.allclose(plain, trimmed, atol=1e-6)
    assert len(plain_grads) == len(trimmed_grads) == 5  # embedding, two convolutions' w and b
    for a, b in zip(plain_grads, trimmed_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


def test_distinct_rows_are_torch_uniques_rows_and_inverse() -> None:
    chars = _words_of_every_length()
    chars = chars[torch.randperm(len(chars), generator=torch.Generator().manual_seed(2))]
    rows, inverse = distinct_rows(chars)
    expected_rows, expected_inverse = torch.unique(chars, dim=0, return_inverse=True)
    assert torch.equal(rows, expected_rows)
    assert torch.equal(inverse, expected_inverse)
    assert torch.equal(rows[inverse], chars)


@pytest.mark.parametrize("lengths", [[5, 120, 7, 119, 60, 3, 0, 200], [40], [9, 9, 9]])
def test_length_groups_place_every_row_once_in_a_group_as_long_as_it(lengths: list[int]) -> None:
    groups = length_groups(lengths)
    placed = sorted(i for rows, _ in groups for i in rows)
    assert placed == list(range(len(lengths)))
    for rows, width in groups:
        assert width == max(max(lengths[i] for i in rows), 1)


def test_length_groups_keep_short_pages_apart_from_long_ones() -> None:
    groups = length_groups([10, 12, 11, 200, 190, 9, 195, 8])
    assert sorted(sorted(rows) for rows, _ in groups) == [[0, 1, 2, 5, 7], [3, 4, 6]]


def test_words_are_cut_to_their_widths_only_where_that_saves_more_than_its_passes() -> None:
    assert convolution_widths([8] * 5 + [MAX_CHARS] * 2, MAX_CHARS) == [MAX_CHARS]
    assert convolution_widths([5] * 300 + [12] * 200 + [MAX_CHARS] * 100, MAX_CHARS) == [
        5, 12, MAX_CHARS,
    ]  # fmt: skip
    assert convolution_widths([6] * 400, MAX_CHARS) == [6]
    # The pass for what lies beyond the cut words counts even when the longest run is at full width.
    assert convolution_widths([8] * 40 + [MAX_CHARS] * 5, MAX_CHARS) == [MAX_CHARS]
    assert convolution_widths([8] * 60 + [MAX_CHARS] * 5, MAX_CHARS) == [8, MAX_CHARS]
    assert convolution_widths([], MAX_CHARS) == [MAX_CHARS]


def test_training_tags_pages_by_length_groups_with_the_padded_batchs_logits() -> None:
    """In training, pages of like length run cut to their group's longest page; the real words'
    logits and the loss's gradients are those of the whole padded batch (dropout off)."""
    torch.manual_seed(0)
    model = FieldTagger(n_classes=4, dim=32, layers=2, heads=2, dropout=0.0)
    g = torch.Generator().manual_seed(3)
    lengths = [3, 40, 5, 38, 0, 17]
    assert len(length_groups(lengths)) > 1
    b, t = len(lengths), max(lengths)
    chars = torch.randint(1, 96, (b, t, MAX_CHARS), generator=g)
    chars[..., 6:] = 0
    geo, pairs = torch.rand(b, t, GEO_DIM, generator=g), torch.rand(b, t, t, PAIR_DIM, generator=g)
    mask = (torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]).float()
    mask[1, 39] = mask[3, 10] = 0.0  # dropped words: the last of a page, and one inside
    classes = torch.randint(0, 4, (b, t), generator=g).masked_fill(mask == 0, -100)
    results = []
    for training in (False, True):
        model.zero_grad()
        model.train(training)
        logits = model(chars, geo, pairs, mask)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 4), classes.reshape(-1), ignore_index=-100
        )
        loss.backward()
        results.append((logits.detach(), loss.detach(), _gradients(model)))
    (plain, plain_loss, plain_grads), (grouped, grouped_loss, grouped_grads) = results
    real = mask > 0
    assert torch.allclose(plain[real], grouped[real], atol=1e-5)
    assert torch.allclose(plain_loss, grouped_loss, atol=1e-6)
    assert len(plain_grads) == len(grouped_grads)
    for a, c in zip(plain_grads, grouped_grads, strict=True):
        assert torch.allclose(a, c, rtol=1e-4, atol=1e-6)
