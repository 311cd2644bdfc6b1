"""Pieces of the field model that need no training: tokens, label assignment, text shapes."""

from __future__ import annotations

from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.labels import assign, in_order_match
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import reading_order, split_words


def test_split_words_keeps_positions_and_drops_duplicate_lines() -> None:
    line = OcrToken("DATE: 25/12/2018", Box(0, 0, 160, 10), 0.9, 0)
    dup = OcrToken("DATE: 25/12/2O18", Box(1, 0, 161, 10), 0.5, 1)
    words = split_words([line, dup])
    assert [w.text for w in words] == ["DATE:", "25/12/2018"]
    assert words[1].box.xmin == 60 and words[1].box.xmax == 160


def test_reading_order_is_rows_then_columns() -> None:
    a = OcrToken("B", Box(50, 0, 60, 10), 1, 0)
    b = OcrToken("A", Box(0, 1, 10, 11), 1, 1)
    c = OcrToken("C", Box(0, 20, 10, 30), 1, 2)
    assert [t.text for t in reading_order([c, a, b])] == ["A", "B", "C"]


def test_assign_keeps_only_words_of_the_field_text() -> None:
    words = split_words([OcrToken("TOTAL RM9.00", Box(0, 0, 120, 10), 1, 0)])
    ann = Annotation("total", Box(0, 0, 120, 10), "9.00")
    classes, owner = assign(words, [ann], ["total"])
    assert classes == [0, 1] and owner == [-1, 0]
    assert in_order_match("RM9.00", "9.00") > 0.6 and in_order_match("TOTAL", "9.00") == 0


def test_text_shapes_fix_lookalikes_only_when_a_shape_is_learned() -> None:
    texts = [("plate", f"MH{i:02d}AB{1000 + i}") for i in range(12)]
    free = [
        "Acme Ltd",
        "Big Shop 2",
        "x",
        "The 7 Dwarfs",
        "Q&A",
        "Northwind",
        "Café 9",
        "A1 Foods",
        "Zed",
        "Ok 42",
        "One",
        "Two",
    ]
    model = TextShapeModel.fit(
        texts + [("word", f"word {i}") for i in range(12)] + [("free", t) for t in free]
    )
    assert model.correct("plate", "MH 0Z-AB 1234") == "MH02AB1234"
    assert model.correct("plate", "mhO2ab1234") == "MH02AB1234"
    assert model.correct("word", "w0rd 5") == "word 5"
    assert model.correct("free", "B1g Sh0p 2") == "B1g Sh0p 2"
    assert TextShapeModel.from_dict(model.to_dict()).correct("plate", "MHO2AB1234") == "MH02AB1234"
