"""Pieces of the field model that need no network: tokens, labels, text shapes, boxes, decoding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.augment import recut_words
from docloop.ml.boxes import BoxRefiner, BoxSample, line_boxes
from docloop.ml.data import LabelledPage
from docloop.ml.decode import group_fields
from docloop.ml.decoding import FORMAT_2, DecodeConfig
from docloop.ml.labels import assign, common_subsequence, in_order_match
from docloop.ml.layout import FieldLayout
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import left_word, reading_order, split_words


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


def test_reading_order_puts_a_group_beside_two_rows_after_both() -> None:
    """A two-row plate as the engine boxed it (dev plate 70): "4348" is as tall as both rows
    together, and growing rows from the top read MH BN 13 4348."""
    words = [
        OcrToken("MH", Box(194, 228, 212, 243), 1, 1),
        OcrToken("13", Box(212, 228, 230, 243), 1, 1),
        OcrToken("4348", Box(233, 231, 278, 252), 1, 2),
        OcrToken("BN", Box(204, 241, 222, 252), 1, 3),
    ]
    assert [t.text for t in reading_order(words[::-1])] == ["MH", "13", "BN", "4348"]


def test_reading_order_falls_back_to_rows_when_pairs_disagree() -> None:
    # A is beside B, B is above C, and C is beside A but left of it: no order satisfies all.
    a = OcrToken("A", Box(20, 0, 30, 10), 1, 0)
    b = OcrToken("B", Box(40, -4, 50, 6), 1, 1)
    c = OcrToken("C", Box(0, 4, 10, 14), 1, 2)
    assert [t.text for t in reading_order([a, b, c])] == ["C", "A", "B"]


def test_assign_keeps_only_words_of_the_field_text() -> None:
    words = split_words([OcrToken("TOTAL RM9.00", Box(0, 0, 120, 10), 1, 0)])
    ann = Annotation("total", Box(0, 0, 120, 10), "9.00")
    classes, owner = assign(words, [ann], ["total"])
    assert classes == [0, 1] and owner == [-1, 0]
    assert in_order_match("RM9.00", "9.00") > 0.6 and in_order_match("TOTAL", "9.00") == 0


def _table_subsequence(a: str, b: str) -> int:
    """The longest common subsequence by the plain dynamic programme."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ca == cb else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def test_bit_parallel_subsequence_agrees_with_the_table() -> None:
    rng = np.random.default_rng(7)
    alphabet = list("AB0:-.É ")
    for _ in range(3000):
        a = "".join(rng.choice(alphabet, rng.integers(0, 14)))
        b = "".join(rng.choice(alphabet, rng.integers(0, 70)))
        assert common_subsequence(a, b) == _table_subsequence(a, b), (a, b)


def test_assign_measures_overlap_by_the_word_and_a_flat_word_by_its_centre() -> None:
    """Half of a word inside the field's box is enough; a word without area counts when its
    centre is inside."""
    words = [
        OcrToken("9.00", Box(50, 0, 150, 10), 1, 0),  # half inside
        OcrToken("9.00", Box(80, 0, 180, 10), 1, 1),  # a fifth inside
        OcrToken("9.00", Box(20, 5, 40, 5), 1, 2),  # no height, centre inside
        OcrToken("9.00", Box(120, 5, 140, 5), 1, 3),  # no height, centre outside
    ]
    classes, _ = assign(words, [Annotation("total", Box(0, 0, 100, 10), "9.00")], ["total"])
    assert classes == [1, 0, 1, 0]


def test_assign_keeps_a_word_that_holds_the_field_glued_to_its_neighbours() -> None:
    """Regression: ":19-03-201818:08:38" was never a date in training, so none was predicted."""
    words = split_words([OcrToken("Date :19-03-201818:08:38", Box(0, 0, 240, 10), 1, 0)])
    ann = Annotation("date", Box(0, 0, 240, 10), "19-03-2018")
    classes, _ = assign(words, [ann], ["date"])
    assert classes == [0, 1]


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
    assert model.correct("plate", "MH02ÁB1234") == "MH02AB1234"
    assert model.correct("word", "w0rd 5") == "word 5"
    assert model.correct("free", "B1g Sh0p 2") == "B1g Sh0p 2"
    assert TextShapeModel.from_dict(model.to_dict()).correct("plate", "MHO2AB1234") == "MH02AB1234"


def test_lookalike_swaps_put_back_the_separating_mark_the_engine_lost() -> None:
    """Regression: a total read "8817" (a faint period lost) kept a shape no total takes; the
    label's shapes say a period goes there. A mark read stays as read where the label writes it
    ("28:90", like "12:30"): only a lost one is put back. Models trained before read as before."""
    totals = [f"{n}.{c:02d}" for n in (6, 9, 12, 31, 45, 88) for c in (0, 50)] + ["12:30"]
    shapes = TextShapeModel.fit(("total", t) for t in totals)
    assert shapes.correct("total", "8817") == "88.17"
    assert shapes.correct("total", "15 15") == "15.15"
    assert shapes.correct("total", "28:90") == "28:90"
    assert shapes.correct("total", "8B17") == "88.17"
    assert shapes.correct("total", "31.00") == "31.00"
    # One mark at most, and only between two characters.
    assert shapes.correct("total", "6") == "6"
    assert shapes.correct("total", "600") == "6.00"
    assert _trained_before(shapes, "mends_marks").correct("total", "8817") == "8817"
    assert TextShapeModel.from_dict(shapes.to_dict()).correct("total", "8817") == "88.17"


def _trained_before(shapes: TextShapeModel, setting: str) -> TextShapeModel:
    """``shapes`` as a model saved before ``setting`` existed loads it."""
    return TextShapeModel.from_dict({k: v for k, v in shapes.to_dict().items() if k != setting})


def test_a_value_is_cut_out_where_its_readings_glue_to_it() -> None:
    """Regression: a date read glued to its time ("11/03/1821:30") was cut to the longest
    frequent shape ("11/03/1821"), and a date of a format the label rarely takes lost its
    century ("2018-03-23" to "18-03-23"). What the training readings glue to the label's values
    (a time after, "DATE:" before) now says where the value ends, and a cut into a run of digits
    at the value's start needs such a glued head. Models trained before cut as before."""
    dates = [f"{d:02d}/03/18" for d in range(1, 11)] + [f"{d:02d}/04/2018" for d in range(1, 11)]
    dates += [f"{d:02d}-05-2018" for d in range(1, 11)] + [f"{d:02d}-06-18" for d in range(1, 11)]
    shapes = TextShapeModel.fit(("date", t) for t in [*dates, "2018-03-01"])
    shapes.learn_glued(
        [
            ("date", "DATE:01/03/18 10:15", "01/03/18"),
            ("date", "Date:02/04/2018 11:45", "02/04/2018"),
            ("date", "01/04/2018", "01/04/2018"),
        ]
    )
    assert shapes.glued is not None and shapes.glued["date"] == {"heads": ["A:"], "tails": ["9:9"]}
    assert shapes.correct("date", "11/03/1821:30") == "11/03/18"
    assert shapes.correct("date", "DATE:12/04/201809:30") == "12/04/2018"
    assert shapes.correct("date", "2018-03-23") == "2018-03-23"
    assert shapes.correct("date", "DATE:12/04/18") == "12/04/18"
    older = _trained_before(shapes, "glued")
    assert older.correct("date", "11/03/1821:30") == "11/03/1821"
    assert older.correct("date", "2018-03-23") == "18-03-23"
    assert TextShapeModel.from_dict(shapes.to_dict()).correct("date", "2018-03-23") == "2018-03-23"


def _dates_with_a_rare_format(month: str) -> TextShapeModel:
    """Shapes of dates written four ways, three of them frequent ("01/03/2018", "01/04/18",
    "01MAR2018") and one seen ``MIN_SHAPE_COUNT`` times ("01MAY18" for ``month`` "MAY")."""
    dates = [f"{d:02d}/03/2018" for d in range(1, 21)] + [f"{d:02d}/04/18" for d in range(1, 11)]
    dates += [f"{d:02d}MAR2018" for d in range(1, 11)] + [f"{d:02d}{month}18" for d in range(1, 4)]
    return TextShapeModel.fit(("date", t) for t in dates)


def test_a_mark_at_a_cut_belongs_to_the_glue_and_a_format_seen_a_few_times_can_be_cut_out() -> None:
    """Regression: "02/02/1719:46" was cut to "02/02/1719:" (a frequent shape once the colon,
    which dates never write, was dropped) with "46" left as a glued digit run, and "05MAY1818:06:40"
    to "05MAY1818", since the seller's "05MAY18" was too rare a shape to be cut out at all. A
    mark the label never writes now goes with the glue beside it, and a shape seen
    ``MIN_SHAPE_COUNT`` times, or a shorter form of a frequent one cut off whole, is cut out
    where the glue fits on both sides. Models trained before cut as before."""
    shapes = _dates_with_a_rare_format("MAY")
    shapes.learn_glued(
        [
            ("date", "01/04/1810:15", "01/04/18"),
            ("date", "03/04/18 12:30", "03/04/18"),
            ("date", "02/04/18 11:45:10", "02/04/18"),
            ("date", "02/04/18 11:45:10", "02/04/18"),
            ("date", "03/03/2018 1", "03/03/2018"),
            ("date", "04/03/2018 2", "04/03/2018"),
            ("date", "DATE:05/03/2018", "05/03/2018"),
            ("date", "Date:06/03/2018", "06/03/2018"),
        ]
    )
    assert shapes.glued is not None and shapes.glued["date"]["tails"] == ["9", "9:9", "9:9:9"]
    older = _trained_before(shapes, "glue_edges")
    cuts = [  # reading, cut now, cut by a model trained before
        ("02/02/1819:46", "02/02/18", "02/02/1819"),
        ("05MAY1818:06:40", "05MAY18", "05MAY1818"),
        ("05/03/2018 7", "05/03/2018", "05/03/2018"),
        # A shorter form of a frequent format, cut off whole: a day without its leading zero.
        ("Date:9/3/2018", "9/3/2018", "DATE9/3/2018"),
        # Not out of a run of digits: the time glued to its year stays where no format ends.
        ("9/3/201820:54:50", "9/3/2018205450", "9/3/2018205450"),
    ]
    for reading, now, before in cuts:
        assert (shapes.correct("date", reading), older.correct("date", reading)) == (now, before)


def test_a_mark_no_training_name_writes_is_dropped_only_where_the_engine_reads_it_as_noise() -> (
    None
):
    """Regression: a held-out seller written with a hyphen ("IN-SPARKLE TRADING SDN BHD") was
    returned without it when no training company had one, as if the hyphen were a speck the
    engine read on the page. On a label of free-form values a mark now goes only where training
    readings of the label held it at least ``MIN_NOISE`` times where no annotation writes it.
    A label with formats (plates) drops every mark it never writes, as models trained before
    do on every label."""
    names = [
        "ALPHA TRADING SDN BHD", "BETA HARDWARE", "GAMMA STATIONERY SDN BHD", "THE STORE",
        "KEDAI RUNCIT MAJU", "SINAR JAYA ENTERPRISE", "ABADI BOOKS", "OMEGA MOTOR (M) SDN BHD",
        "BINTANG MART", "RESTORAN SRI MELAKA", "PASAR MINI JAYA",
    ]  # fmt: skip
    plates = [f"MH{n:02d}AB{n:04d}" for n in range(1, 13)]
    shapes = TextShapeModel.fit([*(("company", t) for t in names), *(("plate", t) for t in plates)])
    shapes.learn_noise(
        [
            *(("company", t) for t in names),
            ("company", '"THE STORE'),
            ("company", 'BETA "HARDWARE'),
            ("company", "BINTANG MART."),  # a mark read once is no noise yet
            ("plate", "MH-01-AB-0001"),
        ]
    )
    assert shapes.noise == {"company": ['"']}
    assert shapes.correct("company", "IN-SPARKLE TRADING SDN BHD.") == "IN-SPARKLE TRADING SDN BHD."
    assert shapes.correct("company", 'ABADI "BOOKS') == "ABADI BOOKS"
    assert shapes.correct("plate", "MH.14.CD.5678") == "MH14CD5678"
    loaded = TextShapeModel.from_dict(shapes.to_dict())
    assert loaded.correct("company", "IN-SPARKLE TRADING SDN BHD") == "IN-SPARKLE TRADING SDN BHD"
    older = _trained_before(shapes, "noise")
    assert older.correct("company", "IN-SPARKLE TRADING SDN BHD") == "INSPARKLE TRADING SDN BHD"


def test_a_value_is_cut_before_glue_that_starts_with_a_glued_shape_holding_a_mark() -> None:
    """Regression: "15JUN1808:34:31PM" (a date, then a time and "PM") was read "15JUN1808", a
    frequent shape, since the time with "PM" is no shape the readings glued to a date. Glue
    now fits where it starts with a glued shape holding a mark (a tail) or ends with one (a
    head); a lone glued run must still be whole, or "21/05/2018TIME:" would read "21/05/20".
    Models trained before took exact glue."""
    shapes = _dates_with_a_rare_format("JUN")
    read = ["01/03/2018 10:15:20", "02/03/2018 11:45:10", "03/03/2018 1", "04/03/2018 2"]
    shapes.learn_glued(("date", reading, reading.split()[0]) for reading in read)
    assert shapes.glued is not None and shapes.glued["date"]["tails"] == ["9", "9:9:9"]
    assert shapes.correct("date", "15JUN1808:34:31PM") == "15JUN18"
    assert shapes.correct("date", "21/05/2018TIME:") == "21/05/2018"
    older = _trained_before(shapes, "glue_ends")
    assert older.correct("date", "15JUN1808:34:31PM") == "15JUN1808"


def test_lookalike_swaps_make_only_letters_the_label_writes() -> None:
    """Regression: a total read "7838.80", of a shape no total took, was swapped to "TB38.80"
    to take the shape of the totals written with "RM" before them, though no total holds a T or
    a B. A digit now becomes only a letter the label writes. Models trained before swap as
    before."""
    totals = [f"RM{n}.{c:02d}" for n in (10, 22, 38, 45, 61) for c in (0, 50)]
    totals += [f"{n}.{c:02d}" for n in (6, 9, 31, 88) for c in (0, 50)]
    shapes = TextShapeModel.fit(("total", t) for t in totals)
    shapes.learn_glued([])  # nothing glued: "78" is not cut off
    assert shapes.correct("total", "7838.80") == "7838.80"
    assert shapes.correct("total", "7,838.80") == "7838.80"
    assert shapes.correct("total", "RM4S.50") == "RM45.50"
    older = _trained_before(shapes, "own_letters")
    assert older.correct("total", "7838.80") == "TB38.80"
    assert TextShapeModel.from_dict(shapes.to_dict()).correct("total", "7838.80") == "7838.80"


def _plates() -> TextShapeModel:
    """Plates of the common format, and a few of formats seen once (two letters and six digits,
    a word and digits)."""
    common = [f"MH{i:02d}AB{1000 + i}" for i in range(20)] + [
        f"KA{i:02d}M{100 + i}" for i in range(5)
    ]
    rare = ["KA031351", "TN0600000", "NISSAN000"]
    return TextShapeModel.fit(("plate", t) for t in common + rare)


def test_lookalike_swaps_stay_where_held_out_fields_read_better_with_them() -> None:
    """The engine's O for a zero in a common-format plate is mended by the swaps: they stay."""
    shapes = _plates()
    shapes.choose_swaps({"plate": [("MHO2AB1002", "MH02AB1002"), ("MH03AB1OO3", "MH03AB1003")]})
    assert shapes.unswapped == []
    assert shapes.correct("plate", "MH04AB1OO4") == "MH04AB1004"
    # Held-out fields the swaps leave as read tell nothing: they stay.
    shapes.choose_swaps({"plate": [("MH02AB1002", "MH02AB1002"), ("MH03AB1003", "MH03AB1030")]})
    assert shapes.unswapped == []


def test_lookalike_swaps_go_where_they_turn_rare_formats_into_the_common_one() -> None:
    """Plates of a format seen once, read right, were turned into the common format by the
    swaps ("KA03I351"): the label reads as it was read. A reading a swap away from the common
    format is still as plausible as that format. Each held-out value's own shape is left out,
    as it would be for a value never seen."""
    shapes = _plates()
    swapped = shapes.correct("plate", "KA031351")
    assert swapped == "KA03I351"
    held = [("KA031351", "KA031351"), ("TN0600000", "TN0600000"), ("MH02AB1002", "MH02AB1002")]
    shapes.choose_swaps({"plate": held})
    assert shapes.unswapped == ["plate"]
    assert shapes.correct("plate", "KA031351") == "KA031351"
    assert shapes.correct("plate", "MH05AB1OO5") == "MH05AB1OO5"
    assert shapes.plausibility("plate", "MH05AB1OO5") == 1.0
    again = TextShapeModel.from_dict(shapes.to_dict())
    assert again.unswapped == ["plate"] and again.correct("plate", "KA031351") == "KA031351"
    # A model trained before the choice swaps every label's readings.
    assert _trained_before(shapes, "unswapped").correct("plate", "KA031351") == swapped


def _plate(x: float, y: float, size: float, lines: int) -> BoxSample:
    """Text of height ``size``; the frame's margin is larger around one line than around two."""
    words = Box(x, y, x + 5 * size, y + size * lines)
    margin = size * (1.0 if lines == 1 else 0.3)
    target = Box(x - margin, y - margin, words.xmax + margin, words.ymax + margin)
    return BoxSample("plate", words, words, lines, 2000, 2000, target)


def test_box_refiner_learns_a_margin_that_depends_on_the_layout() -> None:
    rng = np.random.default_rng(0)
    train = [
        _plate(rng.uniform(0, 500), rng.uniform(0, 500), rng.uniform(10, 80), 1 + i % 2)
        for i in range(40)
    ]
    refiner = BoxRefiner.fit(train)
    for lines in (1, 2):
        unseen = _plate(300, 300, 40, lines)
        assert refiner.refine(unseen).iou(unseen.target) > 0.9
    assert BoxRefiner(**refiner.to_dict()).refine(unseen) == refiner.refine(unseen)


def test_box_refiner_prefers_whole_lines_when_boxes_are_whole_lines() -> None:
    samples = []
    for i in range(20):
        line = [OcrToken("DATE:", Box(10, 20 * i, 60, 20 * i + 10), 1, i)]
        line.append(OcrToken(f"{i:02d}/01/2020", Box(70 + i, 20 * i, 170 + i, 20 * i + 10), 1, i))
        lines = line_boxes(line)
        samples.append(BoxSample.of_words("date", line[1:], lines, 400, 400, lines[i]))
    refiner = BoxRefiner.fit(samples)
    assert refiner.base["date"] == "lines"
    assert refiner.refine(samples[3]).iou(samples[3].line_box) > 0.95


def test_a_second_instance_the_network_doubted_is_scored_down() -> None:
    """Pages held one plate (``FieldLayout``'s counts), and the network gave the second
    group less belief than another class: it is kept for a reviewer, far below the first."""
    words = [
        OcrToken("MH02AB1234", Box(10, 10, 110, 30), 1, 0),
        OcrToken("9876543210", Box(10, 300, 110, 320), 1, 1),
    ]
    probs = np.array([[0.05, 0.95], [0.6, 0.4]])
    kwargs = {"width": 400, "height": 400, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    one = group_fields(words, probs, ["plate"], layout=FieldLayout({"plate": [50]}), **kwargs)
    assert [p.text for p in one] == ["MH02AB1234", "9876543210"]
    assert one[0].score == 0.95 and one[1].score < 0.05
    two = group_fields(words, probs, ["plate"], layout=FieldLayout({"plate": [50, 50]}), **kwargs)
    assert two[1].score > 0.3


def test_a_second_instance_the_network_tagged_keeps_its_own_score() -> None:
    """Two groups the network tagged as plates on a photo of two cars, where training photos
    had one plate annotated each: the second is a field at its own score. A bundle from before ``tagged_instances`` existed
    decodes as it did, with the rank prior."""
    words = [
        OcrToken("MH02AB1234", Box(10, 10, 110, 30), 1, 0),
        OcrToken("KL31B4000", Box(10, 300, 110, 320), 1, 1),
    ]
    probs = np.array([[0.05, 0.95], [0.1, 0.9]])
    kwargs = {"width": 400, "height": 400, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    layout = FieldLayout({"plate": [50]})
    fields = group_fields(words, probs, ["plate"], layout=layout, **kwargs)
    assert [(p.text, p.score) for p in fields] == [("MH02AB1234", 0.95), ("KL31B4000", 0.9)]
    before = group_fields(words, probs, ["plate"], layout=layout, config=FORMAT_2, **kwargs)
    assert before[1].score < 0.05
    stored = {k: v for k, v in DecodeConfig().to_dict().items() if k != "tagged_instances"}
    assert not DecodeConfig.from_dict(stored).tagged_instances


def _fragment_over_a_date() -> list[OcrToken]:
    """A misread fragment on one line, "10 OCT 2017" on a line far below it (dev receipt 270)."""
    return [
        OcrToken("2920/1,", Box(10, 10, 110, 30), 1, 0),
        OcrToken("10", Box(10, 300, 40, 320), 1, 1),
        OcrToken("OCT", Box(45, 300, 80, 320), 1, 1),
        OcrToken("2017", Box(85, 300, 130, 320), 1, 1),
    ]


def test_a_reading_in_a_shape_the_labels_values_never_took_is_scored_down() -> None:
    """Dev receipt 270: the network was surer of "2920/1," than of "10 OCT 2017", a shape many
    training dates take; the date is the likelier field once its shape is weighed."""
    dates = [f"{d:02d}/0{m}/2018" for d in range(1, 10) for m in range(1, 4)]
    dates += [f"{d:02d} OCT 2017" for d in range(10, 29)] + ["2018-01-05", "5 JAN 18"]
    shapes = TextShapeModel.fit(("date", t) for t in dates)
    assert shapes.plausibility("date", "10 OCT 2017") == 1.0
    assert shapes.plausibility("date", "2920/1,") == 2 / len(dates)  # two shapes seen once
    names = ["ACME", "BIG SHOP 2", "Q&A", "NORTHWIND", "THE 7 DWARFS", "ZED", "A1 FOODS"]
    free = TextShapeModel.fit(("name", n) for n in names + ["OK 42", "KEDAI", "CAFE 9", "ONE"])
    assert free.plausibility("name", "2920/1,") == 1.0  # free text learns no shapes
    words = _fragment_over_a_date()
    probs = np.array([[0.1, 0.9], [0.3, 0.7], [0.3, 0.7], [0.3, 0.7]])
    fields = group_fields(
        words, probs, ["date"], width=400, height=400, refiner=BoxRefiner(), shapes=shapes,
        layout=FieldLayout({"date": [50]}),
    )  # fmt: skip
    assert fields[0].text == "10 OCT 2017" and fields[0].score == pytest.approx(0.7)


def test_a_plausible_reading_the_network_doubted_outranks_an_implausible_winner() -> None:
    """Words another class won are candidates of a label the network gave them some belief in
    (``DecodeConfig.doubt_min_prob``): here the date it half believed beats the fragment it was sure of,
    a shape no training date took; a word it gave 0.005 is no candidate."""
    dates = [f"{d:02d} OCT 2017" for d in range(1, 29)] + ["2018-01-05", "5 JAN 18"]
    shapes = TextShapeModel.fit(("date", t) for t in dates)
    words = [*_fragment_over_a_date(), OcrToken("TOTAL", Box(10, 350, 80, 370), 1, 2)]
    probs = np.array([[0.1, 0.9], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.995, 0.005]])
    fields = group_fields(
        words, probs, ["date"], width=400, height=400, refiner=BoxRefiner(), shapes=shapes,
        layout=FieldLayout(),
    )  # fmt: skip
    assert [f.text for f in fields] == ["10 OCT 2017", "29201"]  # punctuation dates never use
    assert fields[0].score == pytest.approx(0.4)


def test_a_second_plate_the_network_barely_saw_is_still_a_candidate() -> None:
    """Dev photo 206: beside a sure plate, the small "1790" plate had p 0.06, 0.03 and 0.015 in
    three trainings and was lost at bounds of 0.05 and 0.03; it is listed last, below the sure
    one."""
    words = [
        OcrToken("1790", Box(97, 104, 125, 121), 1, 0),
        OcrToken("DL.13S", Box(234, 180, 281, 207), 1, 1),
        OcrToken("0155", Box(234, 191, 288, 223), 1, 2),
    ]
    probs = np.array([[0.985, 0.015], [0.3, 0.7], [0.0, 1.0]])
    kwargs = {"width": 400, "height": 300, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    fields = group_fields(words, probs, ["plate"], layout=FieldLayout(), **kwargs)
    assert [(f.text, f.score) for f in fields] == [("DL.13S 0155", 0.85), ("1790", 0.015)]


def test_an_untagged_word_inside_a_field_joins_it_and_one_outside_does_not() -> None:
    """Dev plate 179: the network was sure of "MH14" and "9239" and not of the small "GN" under
    "MH14"; the "IND" emblem beside the plate stays out of it, a candidate of its own at its
    probability."""
    words = [
        OcrToken("MH14", Box(369, 321, 443, 361), 1, 0),
        OcrToken("9239", Box(450, 322, 560, 389), 1, 1),
        OcrToken("IND", Box(321, 362, 348, 385), 1, 2),
        OcrToken("GN", Box(387, 356, 427, 388), 1, 3),
    ]
    probs = np.array([[0.0, 1.0], [0.0, 1.0], [0.9, 0.1], [0.94, 0.06]])
    kwargs = {"width": 800, "height": 600, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    fields = group_fields(words, probs, ["plate"], layout=FieldLayout(), **kwargs)
    assert [(f.text, f.score) for f in fields] == [("MH14 GN 9239", 1.0), ("IND", 0.1)]


def test_labels_whose_fields_take_whole_lines_are_learned_and_read_with_their_whole_line() -> None:
    """Dev plate 28, a huge close-up: "KL 31 B" was sure and "40GG" had p 0.05, so the plate
    read "KL31B". Plates take their whole lines in training; a total shares its line with
    "TOTAL", and keeps to its own word."""
    words = [
        OcrToken("KL", Box(0, 0, 50, 10), 1, 0),
        OcrToken("31", Box(55, 0, 90, 10), 1, 0),
        OcrToken("40GG", Box(95, 0, 140, 10), 1, 0),
        OcrToken("TOTAL", Box(0, 20, 50, 30), 1, 1),
        OcrToken("9.00", Box(60, 20, 90, 30), 1, 1),
    ]
    annotations = [
        Annotation("plate", Box(0, 0, 140, 10), "KL 31 40GG"),
        Annotation("total", Box(60, 20, 90, 30), "9.00"),
    ]
    page = LabelledPage(words, 200, 40, annotations)
    layout = FieldLayout.fit([page] * 10, ["plate", "total"])
    assert layout.whole_line == ["plate"]
    assert FieldLayout.fit([page] * 9, ["plate", "total"]).whole_line == []  # too few fields

    probs = np.array([[0, 1, 0], [0, 1, 0], [0.95, 0.05, 0], [1, 0, 0], [0.1, 0, 0.9]])
    kwargs = {"width": 200, "height": 40, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    fields = group_fields(words, probs, ["plate", "total"], layout=layout, **kwargs)
    assert [(f.label, f.text, f.score) for f in fields] == [
        ("plate", "KL 31 40GG", 1.0),
        ("total", "9.00", 0.9),
    ]
    plain = group_fields(words, probs, ["plate", "total"], layout=FieldLayout(), **kwargs)
    assert [f.text for f in plain] == ["KL 31", "40GG", "9.00"]  # 40GG a doubted candidate


def test_a_field_drops_an_edge_line_the_network_thinks_less_likely_than_not_part_of_it() -> None:
    """Dev receipt 419: "Damansara Utama Outlet", the branch line above the address, was read as
    its first line because "Damansara" alone was tagged."""
    words = [
        OcrToken("Damansara", Box(10, 0, 90, 10), 1, 0),
        OcrToken("Utama", Box(95, 0, 140, 10), 1, 0),
        OcrToken("Outlet", Box(145, 0, 190, 10), 1, 0),
        OcrToken("No.41G,", Box(10, 12, 70, 22), 1, 1),
        OcrToken("Jln", Box(75, 12, 100, 22), 1, 1),
        OcrToken("47400", Box(10, 24, 60, 34), 1, 2),
    ]
    p = [0.87, 0.005, 0.25, 1.0, 1.0, 1.0]
    probs = np.array([[1 - x, x] for x in p])
    kwargs = {"width": 200, "height": 40, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    fields = group_fields(words, probs, ["address"], layout=FieldLayout(), **kwargs)
    # The branch line's doubted "Outlet" is a candidate of its own, below the address.
    assert [(f.text, f.score) for f in fields] == [("No.41G, Jln 47400", 1.0), ("Outlet", 0.25)]
    # Of a field's last two lines, the doubted one goes too where the label's values take no
    # shape it would complete; a model trained before keeps both.
    two = group_fields(words[:5], probs[:5], ["address"], layout=FieldLayout(), **kwargs)
    assert [f.text for f in two] == ["No.41G, Jln", "Outlet"]
    kept = group_fields(
        words[:5], probs[:5], ["address"], layout=FieldLayout(), config=FORMAT_2, **kwargs
    )
    assert [f.text for f in kept] == ["Damansara No.41G, Jln", "Outlet"]
    stored = {k: v for k, v in DecodeConfig().to_dict().items() if k != "doubted_rows_by_shape"}
    assert not DecodeConfig.from_dict(stored).doubted_rows_by_shape


def test_a_doubted_row_of_a_two_row_field_stays_where_it_completes_one_of_the_labels_formats() -> (
    None
):
    """The network doubts a two-row plate's top row (its mean belief 0.35, its "20" barely
    seen): read with it, the plate takes the label's common format, so the row stays, and the
    doubted "20" on it is read too, as plates take their whole lines. A dealer's name it
    half believes under a plate completes no format and goes."""
    words = [
        OcrToken("MH", Box(100, 100, 128, 130), 1, 0),
        OcrToken("20", Box(134, 100, 162, 130), 1, 0),
        OcrToken("EU", Box(168, 100, 196, 130), 1, 0),
        OcrToken("9991", Box(110, 135, 190, 165), 1, 1),
    ]
    probs = np.array([[0.4, 0.6], [0.99, 0.01], [0.55, 0.45], [0.01, 0.99]])
    gaps = {"max_gap": {"plate": [0.8, 0.25]}, "most_rows": {"plate": 2}}
    layout = FieldLayout({"plate": [50]}, whole_line=["plate"], **gaps)
    kwargs = {"width": 400, "height": 400, "refiner": BoxRefiner(), "shapes": _plates()}
    found = group_fields(words, probs, ["plate"], layout=layout, **kwargs)
    assert found[0].text == "MH20EU9991"
    # Read without the doubted "20", the row would complete no format, and would go.
    apart = group_fields(
        words, probs, ["plate"], layout=FieldLayout({"plate": [50]}, **gaps), **kwargs
    )
    assert apart[0].text == "9991"

    plate = [
        OcrToken("MH20EU9991", Box(100, 100, 200, 130), 1, 0),
        OcrToken("ANGEL", Box(120, 135, 180, 155), 1, 1),
    ]
    beliefs = np.array([[0.01, 0.99], [0.7, 0.3]])
    alone = group_fields(plate, beliefs, ["plate"], layout=layout, **kwargs)[0]
    assert (alone.text, round(alone.box.ymax)) == ("MH20EU9991", 130)
    # A model trained before boxes the name with the plate (its text shape cuts it out).
    before = group_fields(plate, beliefs, ["plate"], layout=layout, config=FORMAT_2, **kwargs)[0]
    assert (before.text, round(before.box.ymax)) == ("MH20EU9991", 155)


def test_left_word_is_the_word_just_before_a_fields_first_on_its_line() -> None:
    line = [OcrToken("TOTAL RM 33.90", Box(0, 0, 140, 10), 1, 0)]
    words = split_words(line)
    assert left_word(words, words[2:]) == "RM"
    assert left_word(words, words[:1]) == ""


def test_a_field_longer_than_any_training_text_of_its_label_drops_its_weaker_edge_line() -> None:
    """Dev plate 14: the dealer's line under the plate, half believed, made a 43-character
    plate where no training plate had more than 11."""
    plate = Annotation("plate", Box(0, 0, 100, 10), "PB03AGT8979")
    page = LabelledPage([OcrToken("PB03AGT8979", Box(0, 0, 100, 10), 1, 0)], 200, 40, [plate])
    layout = FieldLayout.fit([page] * 10, ["plate"])
    assert layout.longest == {"plate": 11}
    assert FieldLayout.fit([page] * 9, ["plate"]).longest == {}  # too few texts

    words = [
        OcrToken("PB03AG[T]8979", Box(10, 10, 170, 50), 1, 0),
        OcrToken("TARA", Box(0, 45, 40, 55), 1, 1),
        OcrToken("AUTOMOBILES", Box(45, 45, 120, 55), 1, 1),
    ]
    probs = np.array([[0, 1], [0.3, 0.7], [0.2, 0.8]])
    kwargs = {"width": 200, "height": 60, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    learned = FieldLayout(longest=layout.longest)  # and no more: training plates are one line
    fields = group_fields(words, probs, ["plate"], layout=learned, **kwargs)
    assert [f.text for f in fields] == ["PB03AG[T]8979"]
    assert fields[0].box == words[0].box
    plain = group_fields(words, probs, ["plate"], layout=FieldLayout(), **kwargs)
    assert [f.text for f in plain] == ["PB03AG[T]8979 TARA AUTOMOBILES"]


def test_a_label_pages_rarely_hold_twice_joins_words_up_to_twice_its_widest_gap() -> None:
    """Dev plate 139: "UP 80" over "CR", then "00" a little more than the widest gap that
    training plates showed to the right; read as two plates, the box held neither."""
    words = [
        OcrToken("UP", Box(220, 96, 280, 152), 1, 0),
        OcrToken("80", Box(300, 96, 369, 152), 1, 0),
        OcrToken("00", Box(429, 108, 531, 174), 1, 1),
        OcrToken("CR", Box(247, 134, 326, 167), 1, 2),
    ]
    probs = np.array([[0.01, 0.99]] * 4)
    kwargs = {"width": 600, "height": 300, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    rare = FieldLayout({"plate": [100, 2]}, max_gap={"plate": [0.8, 0.8]})
    assert [f.text for f in group_fields(words, probs, ["plate"], layout=rare, **kwargs)] == [
        "UP 80 CR 00"
    ]
    common = FieldLayout({"plate": [100, 60]}, max_gap={"plate": [0.8, 0.8]})
    fields = group_fields(words, probs, ["plate"], layout=common, **kwargs)
    assert sorted(f.text for f in fields) == ["00", "UP 80 CR"]


def test_a_label_on_every_training_page_is_read_from_its_likeliest_word_however_unsure() -> None:
    words = [OcrToken("TOTAL", Box(0, 0, 50, 10), 1, 0), OcrToken("9.00", Box(60, 0, 90, 10), 1, 0)]
    probs = np.array([[0.995, 0.005], [0.95, 0.05]])
    kwargs = {"width": 100, "height": 20, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    usual = FieldLayout({"total": [19]}, pages=20)
    fields = group_fields(words, probs, ["total"], layout=usual, **kwargs)
    assert [(f.text, f.score) for f in fields] == [("9.00", 0.05)]
    optional = FieldLayout({"total": [12]}, pages=20)
    assert group_fields(words, probs, ["total"], layout=optional, **kwargs) == []
    assert (
        group_fields(words, probs, ["total"], layout=FieldLayout({"total": [19]}), **kwargs) == []
    )


def test_recut_words_keeps_each_line_text_and_stays_inside_the_words() -> None:
    line = split_words([OcrToken("TOTAL RM19.00 MH02AB1234", Box(0, 0, 240, 10), 1, 0)])
    page = LabelledPage(line, 300, 20, [])
    for seed in range(20):
        cut = recut_words(page, np.random.default_rng(seed), p_split=0.5, p_merge=0.3)
        assert "".join(w.text for w in cut.words) == "TOTALRM19.00MH02AB1234"
        assert all(0 <= w.box.xmin < w.box.xmax <= 240 for w in cut.words)


def test_text_shapes_cut_a_value_out_of_glued_neighbours() -> None:
    dates = [("date", f"{d:02d}/0{m}/2018") for d in range(1, 13) for m in range(1, 4)]
    names = [("free", "x" * i + f" shop {i * 7}") for i in range(12)]
    model = TextShapeModel.fit(dates + names)
    assert model.correct("date", "19/03/201818:08:38") == "19/03/2018"
    assert model.correct("date", "DATE 27/02/2018") == "27/02/2018"
    assert model.correct("date", "27/02/2018") == "27/02/2018"
    assert model.correct("date", "21/02/2018 11:47") == "21/02/2018"
    assert model.correct("free", "xxx shop 21X") == "xxx shop 21X"


def test_a_total_glued_to_its_frequent_currency_keeps_it() -> None:
    """Dev receipt 185: "RM367.10" was cut to "367.10": no training total had "RM" and three
    digits, though totals often start with "RM" glued to them and "999.99" is a total's shape."""
    plain = [("total", f"{i}.{i % 10}0") for i in range(5, 40)]
    plain += [("total", f"{100 + 7 * i}.50") for i in range(6)]
    with_rm = [("total", f"RM{i}.{i % 10}5") for i in range(10, 16)]
    with_rm += [("total", "RM 8.10"), ("total", "RM 9.20")]
    dates = [("date", f"{d:02d}/0{m}/2018") for d in range(1, 13) for m in range(1, 4)]
    model = TextShapeModel.fit(plain + with_rm + dates)
    assert model.correct("total", "RM367.10") == "RM367.10"
    assert model.correct("total", "RM12.30") == "RM12.30"
    assert model.correct("total", "RM 367.10") == "367.10"  # printed apart: mostly left out
    assert model.correct("total", "TOTAL367.10") == "367.10"  # "TOTAL" starts no total
    assert model.correct("date", "DATE27/02/2018") == "27/02/2018"
    old = model.to_dict()
    del old["prefixes"]  # a model saved before prefixes cuts as it did
    assert TextShapeModel.from_dict(old).correct("total", "RM367.10") == "367.10"


def test_a_word_annotations_mostly_leave_out_before_a_value_is_read_without_it() -> None:
    """A fold of the dev receipts read "RM 33.90" where annotated totals printed apart from
    their currency mostly leave it out."""
    totals = [("total", f"{i}.{i % 10}0") for i in range(5, 40)]
    model = TextShapeModel.fit(totals + [("total", f"RM {i}.00") for i in (8, 21, 22)])
    left_out = [("total", "RM", f"{i}.90", f"{i}.90") for i in range(10, 15)]
    kept = [("total", "", "RM 21.00", "RM 21.00"), ("total", "TOTAL", "RM 8.10", "RM 8.10")]
    model.learn_detached(left_out + kept)
    assert model.detached == {"total": ["RM"]}
    assert model.correct("total", "RM 33.90") == "33.90"
    model.learn_detached(left_out[:2] + kept)  # kept as often as left out: kept
    assert model.detached == {"total": []}
    assert model.correct("total", "RM 33.90") == "RM 33.90"
    old = model.to_dict()
    del old["detached"]
    assert TextShapeModel.from_dict(old).detached == {}


def test_layout_learns_one_line_labels_and_keeps_their_fields_apart() -> None:
    pages = []
    for i in range(12):
        words = [
            OcrToken("TOTAL", Box(0, 0, 50, 10), 1, 0),
            OcrToken(f"{i}.00", Box(60, 0, 100, 10), 1, 0),
            OcrToken("NO 5", Box(0, 30, 40, 40), 1, 1),
            OcrToken("JALAN", Box(0, 41, 50, 51), 1, 2),
        ]
        anns = [
            Annotation("total", Box(0, 0, 100, 10), f"{i}.00"),
            Annotation("address", Box(0, 30, 50, 51), "NO 5 JALAN"),
        ]
        pages.append(LabelledPage(words, 200, 100, anns))
    layout = FieldLayout.fit(pages, ["total", "address"])
    assert layout.single_line == ["total"]
    assert layout.instances == {"total": [12], "address": [12]}
    words = [
        OcrToken("9.00", Box(60, 0, 100, 10), 1, 0),
        OcrToken("9.00", Box(60, 12, 100, 22), 1, 1),
    ]
    kwargs = {"width": 200, "height": 100, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    fields = group_fields(
        words, np.array([[0.0, 1.0], [0.6, 0.4]]), ["total"], layout=layout, **kwargs
    )
    assert [f.text for f in fields] == ["9.00", "9.00"] and fields[1].score < 0.1


def test_a_page_without_words_has_empty_features_and_no_warning() -> None:
    import warnings

    from docloop.ml.features import GEO_DIM, PAIR_DIM, pair_features

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pair_features(np.zeros((0, GEO_DIM), np.float32)).shape == (0, 0, PAIR_DIM)


def test_amounts_are_compared_across_the_page_and_other_words_are_no_amount() -> None:
    """Dev receipt 087: the total, 538.00, is printed four times, and the network chose the
    507.55 after a discount; it could not compare numbers across the page."""
    from docloop.ml.features import amount_value, page_features

    texts = ["TOTAL", "RM538.00", "538.00", "-30.45", "507.55", "21.02.18", "1,007.50"]
    words = [OcrToken(t, Box(0, 10 * i, 50, 10 * i + 8), 1, i) for i, t in enumerate(texts)]
    _, geo = page_features(words, 100, 100)
    is_amount, same, rank = geo[:, -3], geo[:, -2], geo[:, -1]
    assert is_amount.tolist() == [0, 1, 1, 1, 1, 0, 1]
    assert same.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 0, 0, 0, 0])
    assert rank.tolist() == pytest.approx([0, 2 / 3, 2 / 3, 0, 1 / 3, 0, 1])
    assert amount_value("12,50") == 12.5 and amount_value("12.90S") == 12.9
    assert amount_value("TOTAL:9.00") is None and amount_value("367-10") is None


def test_members_hold_out_different_folds_and_together_see_every_page() -> None:
    from docloop.ml.train import members_for, split_pages

    pages = [LabelledPage([OcrToken(str(i), Box(0, 0, 10, 10), 1)], 20, 20, []) for i in range(30)]
    held = [split_pages(pages, 10, fold=m)[1] for m in range(3)]
    assert all(len(h) == 3 for h in held)
    assert not set(map(id, held[0])) & set(map(id, held[1]))
    assert members_for(pages, epochs=60, members=None) == 3
    assert members_for(pages * 1000, epochs=60, members=None) == 1
    assert members_for(pages * 1000, epochs=60, members=2) == 2  # asked for: time is no limit


def test_a_refined_box_stays_on_the_page_and_upright() -> None:
    refiner = BoxRefiner({"x": [[5.0, 5.0, 0.0, 0.0]] + [[0.0] * 4] * 3}, {"x": "words"})
    words = Box(90, 90, 100, 100)
    box = refiner.refine(BoxSample("x", words, words, 1, 100, 100))
    assert 0 <= box.xmin <= box.xmax <= 100 and 0 <= box.ymin <= box.ymax <= 100


def test_training_without_any_ocr_text_fails_at_once_with_a_reason() -> None:
    from docloop.ml.train import fit

    page = LabelledPage([], 100, 100, [Annotation("total", Box(0, 0, 10, 10), "1.00")])
    with pytest.raises(ValueError, match="no training page has any OCR text"):
        fit([page] * 12, ["total"])


def _sellers(n: int) -> list[tuple[str, str]]:
    """Recurring seller names, each on several documents, as a team's receipts come."""
    names = [
        "SYARIKAT PERNIAGAAN GIN KEE",
        "UNIHAKKA INTERNATIONAL SDN BHD",
        "MR. D.I.Y. (M) SDN BHD",
    ]
    return [("company", names[i % len(names)]) for i in range(n)]


def test_known_values_read_a_misread_recurring_value_as_the_one_seen_in_training() -> None:
    model = TextShapeModel.fit(_sellers(12))
    assert model.correct("company", "UNIHAKKA INTERNATI0NAL SDN BHO") == (
        "UNIHAKKA INTERNATIONAL SDN BHD"
    )
    assert model.correct("company", "MR.D.I.Y.(M) SDN BHD") == "MR. D.I.Y. (M) SDN BHD"
    assert model.correct("company", "A SHOP NOBODY KNOWS") == "A SHOP NOBODY KNOWS"


def _printed(*lines: str) -> list[OcrToken]:
    """Words of a page printing ``lines``, one per row, 10 px per character."""
    words = []
    for row, line in enumerate(lines):
        x = 0
        for text in line.split():
            words.append(
                OcrToken(text, Box(x, row * 20, x + 10 * len(text), row * 20 + 15), 0.9, row)
            )
            x += 10 * len(text) + 10
    return words


def _ocr_lines(rows: list[str]) -> list[OcrToken]:
    """One OCR line per text, 12 px apart."""
    return [OcrToken(t, Box(0, 12 * r, 100, 12 * r + 10), 1, r) for r, t in enumerate(rows)]


def _fields_read(rows: list[str], label: str, layout: FieldLayout) -> list[str]:
    """The texts of the fields of ``label`` read off the lines ``rows``, every word tagged."""
    words = split_words(_ocr_lines(rows))
    probs = np.array([[0.01, 0.99]] * len(words))
    kwargs = {"width": 200, "height": 40, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    return [f.text for f in group_fields(words, probs, [label], layout=layout, **kwargs)]


def _seller_pages(n: int, branch: str | None = None) -> list[LabelledPage]:
    """Pages whose seller's name takes two lines and ends "SDN BHD", a street under it; with
    ``branch``, a line under the name that the annotation holds too."""
    pages = []
    for k in range(n):
        rows = [f"KEDAI NO{k}", "TRADING SDN BHD", *([branch] if branch else []), "JALAN BESAR"]
        words = split_words(_ocr_lines(rows))
        text = " ".join(rows[:-1])
        box = Box(0, 0, 100, 12 * (len(rows) - 1) - 2)
        pages.append(LabelledPage(words, 200, 60, [Annotation("company", box, text)]))
    return pages


def test_a_field_read_past_a_word_that_closes_the_labels_values_is_cut_after_it() -> None:
    """Training sellers' names end with "BHD" on their last line and never on a line the name
    goes on past: a name read with the line printed under it (a branch, a mall) is cut after
    "BHD". A word that also goes on often enough is no closing word, and a model trained
    before closing words were learned reads the field whole."""
    layout = FieldLayout.fit(_seller_pages(12), ["company"])
    assert layout.closing == {"company": ["BHD"]}
    rows = ["SCOOP SDN BHD", "KEDAI DESA"]
    assert _fields_read(rows, "company", layout) == ["SCOOP SDN BHD"]
    before = FieldLayout(**{**layout.to_dict(), "closing": {}})
    assert _fields_read(rows, "company", before) == ["SCOOP SDN BHD KEDAI DESA"]
    goes_on = _seller_pages(12) + _seller_pages(2, branch="(JALAN KLANG)")
    assert FieldLayout.fit(goes_on, ["company"]).closing == {}


def test_a_known_value_tagged_in_part_takes_the_rest_of_it_where_the_page_prints_it() -> None:
    """Dev receipts 046 and 510: the network tagged "PASAR MINI JIN" of "PASAR MINI JIN SENG",
    and the second line of a seller whose first line it missed, names eight training receipts
    held."""
    known = TextShapeModel.fit(_sellers(12)).known
    page = _printed("TAX INVOICE", "SYARIKAT PERNIAGAAN", "GIN KEE (12345-X)", "JALAN BESAR")
    tagged = [w for w in page if w.text in ("GIN", "KEE")]
    widened = known.widen("company", tagged, page)
    assert " ".join(w.text for w in widened) == "SYARIKAT PERNIAGAAN GIN KEE"
    # The rest not printed here, a value never seen, or a text that is a value: as tagged.
    assert known.widen("company", tagged, page[3:]) == tagged
    shop = [w for w in page if w.text == "TAX"]
    assert known.widen("company", shop, page) == shop
    whole = _printed("MR. D.I.Y. (M) SDN BHD", "MR. D.I.Y. (M) SDN BHD")
    assert known.widen("company", whole[:5], whole) == whole[:5]


def test_a_value_never_seen_is_as_likely_as_its_label_meets_new_values() -> None:
    """Where a label's values recur, a cluster reading a seller seen in training is likelier
    than one reading a line no seller ever had; by how much, the training values say: here a
    quarter of the texts are sellers seen once."""
    one_offs = ["KEDAI RUNCIT AH SENG", "TOKO BUKU", "GREEN LEAF CAFE", "PERNIAGAAN JAYA"]
    texts = _sellers(12) + [("company", name) for name in one_offs]
    model = TextShapeModel.fit(texts)
    assert model.known.novel_share["company"] == 4 / 16
    assert model.plausibility("company", "UNIHAKKA INTERNATIONAL SDN BHD") == 1.0
    assert model.plausibility("company", "PASARAYA BORONG") == 0.25
    saved = model.to_dict()
    del saved["known"]["novel_share"]  # a model trained before it: no weighing
    assert TextShapeModel.from_dict(saved).plausibility("company", "PASARAYA BORONG") == 1.0


def test_labels_whose_values_do_not_recur_or_look_alike_are_left_alone() -> None:
    plates = [("number_plate", f"MH{i:02d}AB{1000 + 37 * i}") for i in range(20)]
    amounts = [("total", f"{i % 7}.{(i * 3) % 10}0") for i in range(40)]  # recur, look alike
    model = TextShapeModel.fit(plates + amounts)
    assert model.known.values == {}
    assert model.known.read("total", "19.00") == "19.00"  # never read as the known "9.00"


def test_a_model_saved_before_known_values_loads_and_reads_texts_unchanged() -> None:
    saved = TextShapeModel.fit(_sellers(12)).to_dict()
    del saved["known"]
    old = TextShapeModel.from_dict(saved)
    assert old.known.values == {}
    assert old.correct("company", "UNIHAKKA INTERNATIONAL SDN BHO").endswith("BHO")
    again = TextShapeModel.from_dict(TextShapeModel.fit(_sellers(12)).to_dict())
    assert again.known.values["company"]["MR.D.I.Y.(M)SDNBHD"] == "MR. D.I.Y. (M) SDN BHD"


def test_a_value_tagged_in_part_is_widened_to_its_line_only_to_a_more_frequent_shape() -> None:
    """Regression: "03 Mar 2018 18:22" gave the date "MAR 2018" when "03" was not tagged."""
    dates = [("date", f"{d:02d} MAR 2018") for d in range(1, 11)] + [("date", "05/03/2018")] * 10
    totals = [("total", f"{n}.00") for n in range(1, 16)] + [("total", "RM 4.00")] * 3
    model = TextShapeModel.fit(dates + totals)
    assert model.correct_in_line("date", "Mar 2018", "03 Mar 2018 18:22") == "03 MAR 2018"
    # Regression: the time tagged and the day not (dev receipt 283) gave "APR 2018 1831".
    assert model.correct_in_line("date", "Mar 2018 18:31", "02 Mar 2018 18:31") == "02 MAR 2018"
    assert model.correct_in_line("total", "9.00", "TOTAL 9.00 19.00") == "9.00"
    assert model.correct_in_line("total", "9.00", "TOTAL RM 9.00") == "9.00"
    sellers = TextShapeModel.fit(_sellers(12))
    assert sellers.correct_in_line("company", "GIN KEE", "SYARIKAT PERNIAGAAN GIN KEE") == (
        "GIN KEE"
    )


def test_known_values_correct_a_misread_but_not_a_different_value_that_looks_alike() -> None:
    """Regression: with a similarity cut alone, a seller never seen in training ("HON HWA
    HARDWARE TRADING") was read as a known one ("TSH POWER HARDWARE TRADING")."""
    known = ["TSH POWER HARDWARE TRADING", "SYARIKAT PERNIAGAAN GIN KEE"]
    model = TextShapeModel.fit(("company", known[i % 2]) for i in range(12))
    assert model.correct("company", "TSH P0WER HARDWARE TRADlNG") == "TSH POWER HARDWARE TRADING"
    assert model.correct("company", "HON HWA HARDWARE TRADING") == "HON HWA HARDWARE TRADING"


def test_a_known_values_one_off_spelling_gives_way_to_the_frequent_word_the_engine_read() -> None:
    """A store's one training receipt annotated "SHAN ALAM" turned the engine's right reading
    "SHAH ALAM" of the store's next receipt into the typo, where the label's other texts spell
    SHAH. Readings the label's words do not back keep the known value's spelling."""
    towns = ["LOT 5, PERSIARAN KAYANGAN, SEKSYEN 14, SHAH ALAM", "NO 2 JLN TUKANG 16/4 SHAH ALAM",
             "WISMA MAJU, 12 JALAN KERIS, 40000 SHAH ALAM SELANGOR DARUL EHSAN"]  # fmt: skip
    typo = "9, JALAN SUBANG JASA 3, 40150 SHAN ALAM, SELANGOR."
    texts = [("address", towns[i % 3]) for i in range(12)] + [("address", typo)] * 2
    model = TextShapeModel.fit(texts)
    right = "9, JALAN SUBANG JASA 3, 40150 SHAH ALAM, SELANGOR."
    assert model.known.read("address", right) == right
    assert model.known.read("address", right.replace("JASA", "JA5A")) == right
    # The engine's own misread of a frequent word is no evidence: the known value stands.
    assert model.known.read("address", typo.replace("SHAN", "SHAM")) == typo
    # A model saved before words were counted takes its values whole, as it always did.
    saved = model.to_dict()
    del saved["known"]["words"]
    assert TextShapeModel.from_dict(saved).known.read("address", right) == typo


def test_each_label_learns_how_far_a_reading_may_be_from_a_known_value() -> None:
    """Dev receipt 405: a chain's branch address, 7 of 74 characters from another branch's, was
    read as that branch's. Readings of the training fields, each value left out when no other
    field holds it, show how far the engine's misreads go for each label."""
    branches = [f"LOT 5, JALAN KAPAR, 42100 KLANG, SELANGOR {n}-TMN SRI {town}"
                for n, town in (("1181", "SINAR"), ("1605", "BINTANG"), ("2210", "MUDA"))]  # fmt: skip
    others = ["NO 4, JALAN PERJIRANAN 10, 81700 PASIR GUDANG", "176 JLN SUNGEI BESI, 57100 KL",
              "12, JALAN TAMPOI 7/4, 81200 JOHOR BAHRU", "LOT 276 JALAN BANTING 43800 DENGKIL"]  # fmt: skip
    texts = [("address", (branches + others)[i % 7]) for i in range(14)]
    model = TextShapeModel.fit(texts)
    other = "LOT 5, JALAN KAPAR, 42100 KLANG, SELANGOR 1605-TMN SRI SINARAN"  # a fourth branch
    assert model.known.read("address", other) == branches[1]  # 4 of 53 apart: within 0.15
    readings = [("address", text.replace("SRI", "SR1"), text) for _, text in texts]
    readings += [("address", other, other)]  # seen once: left out, so it must read as itself
    model.known.tune(readings)
    assert model.known.edit_share["address"] == 0.06
    assert model.known.read("address", other) == other
    assert model.known.read("address", branches[1].replace("SRI", "SR1")) == branches[1]
    again = TextShapeModel.from_dict(model.to_dict())
    assert again.known.edit_share == model.known.edit_share


def test_recurring_names_of_one_length_are_no_format_to_cut_a_name_to() -> None:
    """Regression: letters-only names counted once per receipt made "19 letters" a frequent
    company shape, and "SUPER SEVEN CASH AND CARRY SDN BHD" was cut to a part of that length."""
    repeated = ["ABCDEF GHIJKLM", "NOPQRS TUVWXYZ"]  # two 13-letter sellers, many receipts
    distinct = ["SHOP " + "X" * i for i in range(1, 9)]
    model = TextShapeModel.fit(
        [("company", repeated[i % 2]) for i in range(16)] + [("company", t) for t in distinct]
    )
    assert model.correct("company", "SUPER SEVEN CASH AND CARRY SDN BHD") == (
        "SUPER SEVEN CASH AND CARRY SDN BHD"
    )


def test_a_model_trained_before_the_amount_features_reads_the_words_first_features() -> None:
    import io

    import torch

    from docloop.ml.archs.field_tagger import FieldTagger
    from docloop.ml.bundle import FieldModelBundle
    from docloop.ml.data import collate, make_example
    from docloop.ml.export import INPUTS
    from docloop.ml.infer import FieldPredictor
    from docloop.ml.reread import Rereader

    torch.manual_seed(0)
    model = FieldTagger(n_classes=2, dim=16, layers=1, heads=2)
    model.geo[0] = torch.nn.Linear(18, 16)  # as the network was before the amount features
    model.eval()
    words = [OcrToken("TOTAL", Box(0, 0, 50, 10), 1, 0), OcrToken("9.00", Box(60, 0, 90, 10), 1, 0)]
    batch = collate([make_example(LabelledPage(words, 100, 20, []), ["total"])])
    batch["geo"] = batch["geo"][..., :18]
    args = tuple(torch.from_numpy(batch[k]) for k in INPUTS)
    buf = io.BytesIO()
    torch.onnx.export(model, args, buf, dynamo=False, input_names=INPUTS, opset_version=17)
    bundle = FieldModelBundle(
        ["total"], buf.getvalue(), BoxRefiner(), TextShapeModel(), FieldLayout(), Rereader(), {}
    )
    predictor = FieldPredictor(bundle)
    assert predictor.geo_dim == 18
    with torch.no_grad():
        expected = torch.softmax(model(*args), dim=-1)[0].numpy()
    assert np.allclose(predictor.probabilities(words, 100, 20), expected, atol=1e-4)


def test_an_edge_line_without_any_word_of_the_labels_texts_is_dropped_where_words_tell() -> None:
    """Dev receipt 185: the store's name "FASARAYA BORONG SUPER SEVEN" above the address was
    read as its first line. Addresses' own lines hold words of other addresses; the lines next
    to them mostly do not. A glued line ("43200CherasSelangor") still holds its words."""
    pages = []
    for n in range(12):
        words = [
            OcrToken(f"SHOP{n} SDN BHD", Box(0, 0, 100, 10), 1, 0),
            OcrToken(f"TEL: 03-{n}", Box(0, 12, 100, 22), 1, 1),
            OcrToken(f"NO. {n}, JALAN MERANTI", Box(0, 24, 100, 34), 1, 2),
            OcrToken("43200 CHERAS, SELANGOR", Box(0, 36, 100, 46), 1, 3),
            OcrToken(f"GST NO: {n}", Box(0, 48, 100, 58), 1, 4),
        ]
        text = f"NO. {n}, JALAN MERANTI 43200 CHERAS, SELANGOR"
        address = Annotation("address", Box(0, 24, 100, 46), text)
        pages.append(LabelledPage(split_words(words), 200, 60, [address]))
    layout = FieldLayout.fit(pages, ["address"])
    assert "SELANGOR" in layout.vocabulary["address"]
    rows = ["FASARAYA BORONG SUPER", "NO. 1, JALAN EURO", "43200CherasSelangor"]
    assert _fields_read(rows, "address", layout) == ["NO. 1, JALAN EURO 43200CherasSelangor"]
    assert _fields_read(rows, "address", FieldLayout())[0].startswith("FASARAYA")


def test_each_block_reads_its_own_heads_of_the_pair_bias() -> None:
    """The pair projection's channels i*heads..(i+1)*heads are block i's attention bias: saved
    checkpoints and exported networks rely on that layout, whatever way the forward splits it."""
    import torch

    from docloop.ml.archs.field_tagger import FieldTagger
    from docloop.ml.features import GEO_DIM, PAIR_DIM

    torch.manual_seed(0)
    model = FieldTagger(n_classes=3, dim=16, layers=3, heads=2).eval()
    chars = torch.randint(1, 96, (2, 7, 24))
    geo, pairs = torch.randn(2, 7, GEO_DIM), torch.randn(2, 7, 7, PAIR_DIM)
    mask = torch.ones(2, 7)
    mask[1, 5:] = 0.0

    def by_slices() -> torch.Tensor:
        x = model.norm(model._words(chars.reshape(14, 24)).reshape(2, 7, -1) + model.geo(geo))
        projected = model.pair(pairs).permute(0, 3, 1, 2)
        pad = (1.0 - mask)[:, None, None, :] * -1e4
        for i, block in enumerate(model.blocks):
            x = block(x, projected[:, 2 * i : 2 * i + 2] + pad)
        return model.head(x)

    with torch.no_grad():
        assert torch.allclose(model(chars, geo, pairs, mask), by_slices(), atol=1e-6)


def test_character_ids_cover_ascii_anything_else_and_padding() -> None:
    """Ids are read whole-page at once; each character keeps its documented id."""
    from docloop.ml.features import MAX_CHARS, text_features

    texts = ["Ab ~", "é\x00€", "x" * 30, ""]
    words = [OcrToken(t, Box(0, 10 * i, 50, 10 * i + 8), 1, i) for i, t in enumerate(texts)]
    chars, columns = text_features(words)
    assert chars.dtype == np.int64 and chars.shape == (4, MAX_CHARS)
    assert chars[0, :5].tolist() == [ord("A") - 31, ord("b") - 31, 1, ord("~") - 31, 0]
    assert chars[1, :4].tolist() == [96, 96, 96, 0]  # non-ASCII and a NUL: "anything else"
    assert chars[2].tolist() == [ord("x") - 31] * MAX_CHARS  # cut at MAX_CHARS
    assert not chars[3].any()
    assert columns.shape == (4, 6) and columns[2, 0] == 1.5  # length 30 of at most 40, over 20
    assert text_features([])[0].shape == (0, MAX_CHARS)


def _stacked_plates() -> list[OcrToken]:
    """A one-row plate above a two-row plate, close enough for a two-row plate's gaps."""
    return [
        OcrToken("TN06", Box(160, 25, 300, 156), 1, 0),
        OcrToken("00000", Box(370, 28, 966, 180), 1, 1),
        OcrToken("TN06", Box(338, 224, 758, 403), 1, 2),
        OcrToken("00000", Box(310, 420, 823, 546), 1, 3),
    ]


def test_stacked_fields_are_cut_apart_where_they_span_more_rows_than_training_fields() -> None:
    """Training plates spanned at most two rows (``FieldLayout.most_rows``); four tagged words
    on three rows are two plates, cut at the widest gap between rows. A model trained before
    the rows were counted reads them as one field, as it did."""
    words = _stacked_plates()
    probs = np.array([[0.03, 0.97]] * 4)
    kwargs = {"width": 1001, "height": 563, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    layout = FieldLayout({"plate": [50]}, max_gap={"plate": [3.0, 1.0]}, most_rows={"plate": 2})
    found = group_fields(words, probs, ["plate"], layout=layout, **kwargs)
    assert sorted(f.text for f in found) == ["TN06 00000", "TN06 00000"]
    assert {round(f.box.ymin) for f in found} == {25, 224}
    old = FieldLayout(**{**layout.to_dict(), "most_rows": {}})
    assert [f.text for f in group_fields(words, probs, ["plate"], layout=old, **kwargs)] == [
        "TN06 00000 TN06 00000"
    ]


def _plate_under_a_missed_row() -> list[OcrToken]:
    """A two-row plate whose top row the engine read with dots and an O, and a dealer's name
    printed under it."""
    return [
        OcrToken("MH.2O.EU", Box(100, 100, 200, 130), 1, 0),
        OcrToken("9991", Box(110, 135, 190, 165), 1, 1),
        OcrToken("ANGEL", Box(120, 168, 180, 188), 1, 2),
    ]


def test_a_row_the_network_missed_joins_a_field_where_it_completes_one_of_the_labels_formats() -> (
    None
):
    """The network tagged the bottom row of a two-row plate alone. With the row above, the
    field reads as the label's common format and takes that row's box; the dealer's name
    below completes no format and stays out, and the score is still the tagged row's. A row
    that completes nothing is left out, and a model trained before ``adjacent_rows`` reads
    the tagged row alone, as it did."""
    words = _plate_under_a_missed_row()
    probs = np.array([[0.98, 0.02], [0.01, 0.99], [0.99, 0.01]])
    layout = FieldLayout({"plate": [50]}, max_gap={"plate": [0.8, 0.25]}, most_rows={"plate": 2})
    kwargs = {"width": 400, "height": 400, "refiner": BoxRefiner(), "shapes": _plates()}
    found = group_fields(words, probs, ["plate"], layout=layout, **kwargs)
    # The row is the field's, no longer a doubted candidate of its own; the name is one.
    assert [f.text for f in found] == ["MH20EU9991", "ANGEL"]
    assert round(found[0].box.ymin) == 100 and round(found[0].box.ymax) == 165
    assert found[0].score == pytest.approx(0.99)
    alone = group_fields(words[1:], probs[1:], ["plate"], layout=layout, **kwargs)
    assert [f.text for f in alone][0] == "9991"
    before = group_fields(words, probs, ["plate"], layout=layout, config=FORMAT_2, **kwargs)
    assert before[0].text == "9991"
    one_row = FieldLayout(**{**layout.to_dict(), "most_rows": {"plate": 1}})
    assert group_fields(words, probs, ["plate"], layout=one_row, **kwargs)[0].text == "9991"
    stored = {k: v for k, v in DecodeConfig().to_dict().items() if k != "adjacent_rows"}
    assert not DecodeConfig.from_dict(stored).adjacent_rows


def _plates_of_a_few_formats() -> TextShapeModel:
    """``_plates``' values with three of another common format (one digit, three letters)
    and one plate of a format seen once (one digit, two letters, four digits)."""
    common = [f"MH{i:02d}AB{1000 + i}" for i in range(20)] + [
        f"KA{i:02d}M{100 + i}" for i in range(5)
    ]
    others = [f"DL{i}CAF{2000 + i}" for i in range(3)]
    rare = ["KA031351", "TN0600000", "NISSAN000", "GJ7BB7666"]
    return TextShapeModel.fit(("plate", t) for t in common + others + rare)


def test_a_missed_row_completes_a_plate_of_a_rare_format_its_classes_make_likely() -> None:
    """The network tagged the bottom row of a two-row plate alone, and with its top row the
    plate takes a format one training value took: too rare to count, but made of the steps
    the label's values take (letters, then digits), where "1111" alone starts as no value
    starts. It joins; the dealer's name under it and a brand name over a row of digits
    ("HONDA5836", as unlikely per step as no format) do not. A model trained before reads
    the tagged row alone."""
    shapes = _plates_of_a_few_formats()
    words = [
        OcrToken("GJ1KF", Box(110, 100, 190, 130), 1, 0),
        OcrToken("1111", Box(100, 135, 200, 165), 1, 1),
        OcrToken("ANGEL", Box(120, 168, 180, 188), 1, 2),
    ]
    probs = np.array([[0.98, 0.02], [0.01, 0.99], [0.99, 0.01]])
    layout = FieldLayout({"plate": [50]}, max_gap={"plate": [0.8, 0.25]}, most_rows={"plate": 2})
    kwargs = {"width": 400, "height": 400, "refiner": BoxRefiner(), "layout": layout}
    found = group_fields(words, probs, ["plate"], shapes=shapes, **kwargs)
    assert [f.text for f in found] == ["GJ1KF1111", "ANGEL"]
    assert round(found[0].box.ymin) == 100 and round(found[0].box.ymax) == 165
    brand = [replace(words[0], text="HONDA"), replace(words[1], text="5836")]
    assert group_fields(brand, probs[:2], ["plate"], shapes=shapes, **kwargs)[0].text == "5836"
    before = TextShapeModel.from_dict(
        {k: v for k, v in shapes.to_dict().items() if k != "rows_by_chain"}
    )
    assert group_fields(words, probs, ["plate"], shapes=before, **kwargs)[0].text == "1111"


def test_a_shape_chain_passes_nothing_where_no_format_is_counted() -> None:
    """The chain's floor is its least likely counted format's; with none counted, no shape is
    likely enough, however likely its steps."""
    from docloop.ml.shape_chain import ShapeChain

    shapes = {"AA99AA9999": 20, "AA99A9999": 5, "AA9AAA9999": 3, "AA9AA9999": 1, "AAAAAAA": 1}
    chain = ShapeChain.fit(shapes, 3)
    assert chain.floor == pytest.approx(chain.mean_log_prob("AA9AAA9999"))
    assert chain.likelier("AA9AA9999", "9999")
    assert not chain.likelier("9999", "AA9AA9999")
    assert not ShapeChain.fit(shapes, 21).likelier("AA9AA9999", "9999")


def test_a_layout_learns_the_most_rows_its_fields_span() -> None:
    words = _stacked_plates()
    one_row = LabelledPage(words[:2], 1001, 563, [Annotation("plate", Box(150, 20, 970, 185))])
    two_rows = LabelledPage(words[2:], 1001, 563, [Annotation("plate", Box(300, 220, 830, 550))])
    layout = FieldLayout.fit([one_row] * 6 + [two_rows] * 5, ["plate"])
    assert layout.most_rows == {"plate": 2}
    assert FieldLayout.fit([one_row] * 11, ["plate"]).most_rows == {"plate": 1}
    assert FieldLayout.fit([two_rows] * 9, ["plate"]).most_rows == {}  # too few fields


def _total_pages(endings: list[str]) -> list[LabelledPage]:
    """A page per ending, printing "TOTAL" and an amount ending with it on one line, the amount
    annotated as the total."""
    pages = []
    for k, ending in enumerate(endings):
        words = _printed(f"TOTAL {k + 10}.{ending}")
        box = words[1].box
        pages.append(LabelledPage(words, 200, 60, [Annotation("total", box, words[1].text)]))
    return pages


def _totals_read(amounts: list[str], layout: FieldLayout) -> list[str]:
    """The totals read, best first, off a page printing each amount after a word; the network
    sure of the first amount and doubting the others."""
    words = _printed(*(f"SUM {amount}" for amount in amounts))
    probs = np.array([[0.999, 0.001]] * len(words))
    probs[1] = [0.1, 0.9]
    for i in range(3, len(words), 2):
        probs[i] = [0.7, 0.3]
    kwargs = {"width": 200, "height": 80, "refiner": BoxRefiner(), "shapes": TextShapeModel()}
    fields = group_fields(words, probs, ["total"], layout=layout, **kwargs)
    return [f.text for f in sorted(fields, key=lambda f: -f.score)]


def test_of_a_sum_printed_as_added_up_and_rounded_the_label_reads_the_one_its_values_end_like():
    """Training totals mostly end in 0 or 5: where the network is surer of "112.46" than of
    "112.45" printed under it, the total reads 112.45, and the added-up twin is scored as a
    second total would be. An amount that is no twin, a model trained before endings were
    learned, and a label whose values end in any digit keep the network's choice."""
    layout = FieldLayout.fit(
        _total_pages(["00", "50", "95", "45", "05", "30", "65"] * 2), ["total"]
    )
    assert layout.endings == {"total": {"0": 6, "5": 8}}
    assert _totals_read(["112.46", "112.45"], layout) == ["112.45", "112.46"]
    assert _totals_read(["112.46", "100.45"], layout) == ["112.46", "100.45"]
    before = FieldLayout(**{**layout.to_dict(), "endings": {}})
    assert _totals_read(["112.46", "112.45"], before) == ["112.46", "112.45"]
    any_digit = FieldLayout.fit(_total_pages([f"{d}{d}" for d in range(10)] * 2), ["total"])
    assert _totals_read(["112.46", "112.45"], any_digit) == ["112.46", "112.45"]
