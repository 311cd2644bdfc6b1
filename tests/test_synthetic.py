"""Synthetic training data: new values of a label's forms, line images, and synthetic pages."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.data import LabelledPage, collate, make_example, retexted_example
from docloop.ml.labels import comparable
from docloop.ml.synthetic import line_images
from docloop.ml.synthetic.layouts import synthetic_page
from docloop.ml.synthetic.line_images import HEIGHT, ROW_BREAK, render_lines
from docloop.ml.synthetic.text_sampler import TextSampler, form
from docloop.ml.textshape import shape
from docloop.ml.train import TrainConfig, fit, training_batch

PLATES = ["MH02CB4545", "KA03MJ1351", "MH15TC554", "DL8CAF5030", "KA51MJ8156", "TN06AB1234"]
DATES = ["12/03/2018", "01-02-19", "25 Dec 2018"]


def _sampler() -> TextSampler:
    return TextSampler.fit([("plate", t) for t in PLATES] + [("date", t) for t in DATES])


def test_samples_take_a_form_the_label_took_and_are_never_a_training_value() -> None:
    sampler = _sampler()
    rng = np.random.default_rng(0)
    for label, texts in (("plate", PLATES), ("date", DATES)):
        samples = [sampler.sample(label, rng) for _ in range(200)]
        assert None not in samples
        assert {form(s) for s in samples if s} <= {form(t) for t in texts}
        assert not {comparable(s) for s in samples if s} & {comparable(t) for t in texts}
        assert len(set(samples)) > 150  # new values, not a few


def test_a_value_like_a_text_keeps_its_letters_digits_and_separators_where_they_were() -> None:
    sampler = _sampler()
    rng = np.random.default_rng(1)
    for text in ("MH 02 cb-4545", "25 Dec 2018"):
        values = {sampler.like("plate", text, rng) for _ in range(50)}
        assert all(
            v is not None and shape(v) == shape(text) and form(v) == form(text) for v in values
        )
        assert text not in values and len(values) > 40
    assert sampler.like("plate", "--", rng) is None  # nothing to draw again


def test_a_value_like_a_text_keeps_the_words_of_letters_the_labels_values_share() -> None:
    names = ["KEDAI ABC SDN BHD", "XYZ TRADING SDN. BHD.", "FOO 99 SDN BHD", "ONE TRADING"]
    sampler = TextSampler.fit(("company", n) for n in names)
    rng = np.random.default_rng(6)
    for _ in range(20):
        value = sampler.like("company", "NEW 12 TRADING SDN BHD", rng)
        assert value is not None and value.endswith(" TRADING SDN BHD")
        assert value[:6] != "NEW 12" and form(value[:6]) == "AAA 99"


def test_a_form_with_too_few_values_left_gives_none_instead_of_a_copy() -> None:
    sampler = TextSampler.fit(("digit", str(d)) for d in range(10))
    assert sampler.sample("digit", np.random.default_rng(0)) is None
    assert sampler.sample("unknown", np.random.default_rng(0)) is None


def _has_fonts() -> bool:
    try:
        return bool(line_images.font_files())
    except line_images.NoFonts:
        return False


needs_fonts = pytest.mark.skipif(not _has_fonts(), reason="no TrueType fonts on this machine")


@needs_fonts
@pytest.mark.parametrize("style", ["plate", "plate2", "receipt", None])
def test_line_images_are_grey_and_the_recognizers_height(style: str | None) -> None:
    rng = np.random.default_rng(2)
    texts = ["MH13BN4348", "TOTAL RM 33.90", "KA 03"]
    drawn = render_lines(texts, rng, style)
    assert len(drawn) == 3
    for (image, text), source in zip(drawn, texts, strict=True):
        assert image.dtype == np.uint8 and image.ndim == 2 and image.shape[0] == HEIGHT
        assert image.shape[1] > HEIGHT // 2
        assert image.min() < 100 < image.max()  # ink on paper
        assert comparable(text) == comparable(source)


@needs_fonts
def test_two_row_plates_cut_where_letters_meet_digits_and_are_lower_than_wide_one_rows() -> None:
    rng = np.random.default_rng(3)
    ((one, _),) = render_lines(["MH13BN4348"], rng, "plate")
    ((two, text),) = render_lines(["MH13BN4348"], rng, "plate2")
    assert text == f"MH13{ROW_BREAK}BN4348"
    assert two.shape[0] == one.shape[0] == HEIGHT and two.shape[1] < one.shape[1]


def test_an_unknown_style_and_a_machine_without_fonts_fail_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="unknown style"):
        render_lines(["A1"], np.random.default_rng(0), "neon")
    line_images.font_files.cache_clear()
    monkeypatch.setattr(line_images.shutil, "which", lambda _: None)
    monkeypatch.setattr(line_images, "FONT_DIRS", ())
    try:
        with pytest.raises(line_images.NoFonts, match="fonts-dejavu"):
            render_lines(["A1"], np.random.default_rng(0))
    finally:
        line_images.font_files.cache_clear()


def _receipt(total: str, y: float) -> LabelledPage:
    words = [
        OcrToken("KEDAI", Box(10, 5, 60, 15), 0.9, 0),
        OcrToken("TOTAL", Box(10, y, 60, y + 10), 0.9, 1),
        OcrToken(total, Box(70, y, 110, y + 10), 0.9, 1),
        OcrToken("CASH", Box(10, y + 20, 60, y + 30), 0.9, 2),
        OcrToken(total, Box(70, y + 20, 110, y + 30), 0.9, 2),
        OcrToken("TEL:07-3523888", Box(10, 150, 110, 160), 0.9, 3),
    ]
    return LabelledPage(words, 200, 200, [Annotation("total", Box(68, y, 112, y + 10), total)])


def test_a_synthetic_page_keeps_the_layout_with_a_new_value_printed_wherever_it_was() -> None:
    pages = [_receipt(f"{i}.50", 40.0 + i) for i in range(10, 30)]
    sampler = TextSampler.fit(("total", a.text or "") for p in pages for a in p.annotations)
    rng = np.random.default_rng(4)
    page = pages[0]
    new = synthetic_page(page, ["total"], sampler, rng, vary=1.0)
    value = new.annotations[0].text
    assert value is not None and form(value) == "99.99" and value not in {"10.50"}
    assert [w.box for w in new.words] == [w.box for w in page.words]
    assert [w.text for w in new.words][:5] == ["KEDAI", "TOTAL", value, "CASH", value]
    assert form(new.words[5].text) == form("TEL:07-3523888") != new.words[5].text
    # The training rule tags the new value where it tagged the old one.
    assert list(make_example(new, ["total"]).classes) == list(make_example(page, ["total"]).classes)


def test_a_synthetic_pages_example_is_the_one_made_from_scratch() -> None:
    """Training computes again only what the new texts set (``retexted_example``); the
    layout's arrays are the source page's. Both ways must give the same arrays."""
    pages = [_receipt(f"{i}.50", 40.0 + i) for i in range(10, 30)]
    sampler = TextSampler.fit(("total", a.text or "") for p in pages for a in p.annotations)
    rng = np.random.default_rng(7)
    for page in pages:
        new = synthetic_page(page, ["total"], sampler, rng, vary=1.0)
        fresh, fast = (
            make_example(new, ["total"]),
            retexted_example(make_example(page, ["total"]), new, ["total"]),
        )
        for name in ("chars", "geo", "pairs", "classes"):
            a, b = getattr(fresh, name), getattr(fast, name)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name


def test_a_training_batch_is_its_pages_padded_or_synthetic_pages_at_the_configured_share() -> None:
    pages = [_receipt(f"{i}.50", 40.0 + i) for i in range(10, 30)]
    examples = [make_example(p, ["total"]) for p in pages]
    shard = [[e] for e in examples]
    sampler = TextSampler.fit(("total", a.text or "") for p in pages for a in p.annotations)
    quiet = TrainConfig(char_noise=0.0, token_drop=0.0, geo_noise=0.0)
    idx = [3, 0, 7]
    rng = np.random.default_rng(0)

    def batch(synthetic: float) -> dict[str, np.ndarray]:
        config = replace(quiet, synthetic=synthetic)
        made = training_batch(idx, shard, pages, ["total"], sampler, config, rng)
        assert made is not None
        return made

    real = collate([examples[i] for i in idx])
    plain = batch(0.0)
    for name in ("chars", "geo", "pairs", "classes", "mask"):
        assert plain[name].tobytes() == real[name].tobytes(), name
    made = batch(1.0)
    # Every page is a synthetic one: words holding a digit (the totals, the phone number) read
    # new values, the others never change.
    changed = (made["chars"] != real["chars"]).any(axis=2)
    assert changed[:, [2, 4, 5]].any(axis=1).all() and not changed[:, [0, 1, 3]].any()
    assert made["mask"].tobytes() == real["mask"].tobytes()
    assert made["pairs"].tobytes() == real["pairs"].tobytes()  # the layout is the page's
    assert training_batch([], shard, pages, ["total"], sampler, quiet, rng) is None


def test_drawn_characters_are_rng_choice_draws_from_the_same_generator() -> None:
    """Pools are kept between draws; each draw must still be what ``rng.choice`` with the
    pool's shares gives, taking one number from the generator, so a training's synthetic
    pages (and its networks) stay what they were for the same seed."""
    sampler = _sampler()

    def reference(label: str, shape_: str, rng: np.random.Generator) -> str:
        slots = sampler.positions[label].get(shape_)
        count = sampler.forms[label].get(shape_, 0)
        out = []
        for i, c in enumerate(shape_):
            if c not in "Aa9":
                out.append(c)
                continue
            pool = sampler.digits[label] if c == "9" else sampler.letters[label]
            if slots is not None and rng.random() < count / (count + 1):
                pool = Counter({k: n for k, n in slots[i].items() if k.isdigit() == (c == "9")})
            chars = list(pool)
            weights = np.array([pool[k] for k in chars], dtype=float)
            drawn = chars[int(rng.choice(len(chars), p=weights / weights.sum()))]
            out.append(drawn.lower() if c == "a" else drawn)
        return "".join(out)

    for shape_ in ("AA99AA9999", "AA99AAA9999", "99/99/9999", "99 Aaa 9999", "a9-A"):
        ours, theirs = np.random.default_rng(11), np.random.default_rng(11)
        for _ in range(30):
            assert sampler._fill("plate", shape_, ours) == reference("plate", shape_, theirs)
        assert ours.random() == theirs.random()


def test_a_field_the_engine_split_and_misread_keeps_its_extra_characters() -> None:
    words = [
        OcrToken("MH", Box(10, 10, 30, 20), 0.9, 0),
        OcrToken("O2-CB", Box(32, 10, 70, 20), 0.9, 0),
        OcrToken("4545", Box(72, 10, 100, 20), 0.9, 0),
    ]
    page = LabelledPage(words, 200, 100, [Annotation("plate", Box(8, 8, 102, 22), "MH02CB4545")])
    new = synthetic_page(page, ["plate"], _sampler(), np.random.default_rng(5))
    value = new.annotations[0].text
    assert value is not None and shape(value) == "AA99AA9999"
    texts = [w.text for w in new.words]
    assert texts[1][0] == "O" and texts[1][2] == "-"  # the misread O and the dash stay
    assert texts[0] + texts[1][1] + texts[1][3:] + texts[2] == value[:2] + value[3:]


def test_training_with_synthetic_pages_runs_and_keeps_the_decoders_on_the_real_pages() -> None:
    pages = [_receipt(f"{i}.50", 40.0 + i) for i in range(10, 22)]
    config = TrainConfig(epochs=3, batch_pages=4, members=1, recuts=0, dim=32, layers=1)
    bundle = fit(pages, ["total"], replace(config, synthetic=0.5))
    assert bundle is not None
    assert bundle.metrics["config"]["synthetic"] == 0.5
    assert bundle.shapes.counts["total"] == len(pages)  # learned from the real values only
