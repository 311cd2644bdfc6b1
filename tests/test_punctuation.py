"""The punctuation channel: marks the annotations write where the engine read another one."""

from __future__ import annotations

from docloop.domain import Box, Lattice, OcrToken, Step
from docloop.ml.punctuation import PunctuationChannel, contexts, cross_validated
from docloop.ml.reread import Rereader


def _read(text: str) -> Lattice:
    """A lattice reading ``text`` with full confidence, a blank after each character."""
    steps: list[Step] = []
    for c in text:
        steps += [((c, 1.0),), (("", 1.0),)]
    return tuple(steps)


def test_a_mark_is_described_by_the_word_before_it_and_what_follows() -> None:
    found = dict(contexts("NO. 38. JLN AMAN,47170 PUCHONG."))
    assert found == {
        2: (".", "short", "space"),
        6: (".", "number", "space"),
        16: (",", "word", "digit"),
        30: (".", "word", "end"),
    }


def test_the_channel_swaps_a_mark_only_where_annotations_mostly_wrote_another() -> None:
    """Dev receipt 042: the engine read commas after numbers as periods, with no comma in its
    lattice; periods after abbreviations are periods."""
    readings = [("LOT 38. JALAN AMAN", "LOT 38, JALAN AMAN")] * 3
    readings += [("NO. 5 JALAN", "NO. 5 JALAN")] * 3
    readings += [("TAMAN JAYA. SELANGOR", "TAMAN JAYA. SELANGOR")]
    readings += [("TAMAN SRI. SELANGOR", "TAMAN SRI, SELANGOR")]  # one each way: kept
    channel = PunctuationChannel.fit(readings)
    assert channel.apply("LOT 12. JALAN NO. 7") == "LOT 12, JALAN NO. 7"
    assert channel.apply("PUCHONG. SELANGOR") == "PUCHONG. SELANGOR"
    assert PunctuationChannel.from_list(channel.to_list()) == channel


def test_cross_validation_keeps_the_channel_only_where_it_reads_more_fields_right() -> None:
    helps = [(f"LOT {n}. JALAN AMAN", f"LOT {n}, JALAN AMAN") for n in range(10)]
    channel = cross_validated(helps)
    assert channel is not None and channel.apply("LOT 5. JALAN") == "LOT 5, JALAN"
    # Half the annotations keep the period: swapping loses as many fields as it gains.
    mixed = [(f"LOT {n}. JALAN", f"LOT {n}{',' if n % 2 else '.'} JALAN") for n in range(10)]
    assert cross_validated(mixed) is None
    assert cross_validated([(f"LOT {n}, JALAN", f"LOT {n}, JALAN") for n in range(10)]) is None


def test_the_rereader_learns_marks_from_held_out_readings_and_old_models_keep_them() -> None:
    fields = [
        ("address", f"LOT {n}, JALAN {street}", _read(f"LOT {n}. JALAN {street}"))
        for n in range(12)
        for street in ("AMAN", "BUKIT")
    ]
    reader = Rereader.fit(fields)
    words = [
        OcrToken("LOT 99. JALAN AMAN", Box(0, 0, 180, 10), 0.9, 0, _read("LOT 99. JALAN AMAN"))
    ]
    assert reader.reread("address", words) == "LOT 99, JALAN AMAN"
    assert Rereader.from_dict(reader.to_dict()).reread("address", words) == "LOT 99, JALAN AMAN"
    saved = reader.to_dict()
    del saved["marks"]  # as a model trained before the channel wrote it
    assert Rereader.from_dict(saved).reread("address", words) is None
