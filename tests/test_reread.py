"""Re-reading fields from the recognizer's lattice with a character model of the label's texts."""

from __future__ import annotations

import io
import json
import random
import zipfile

import numpy as np

from docloop.domain import Box, Lattice, OcrToken, Step
from docloop.ml import lexicon
from docloop.ml.boxes import BoxRefiner
from docloop.ml.bundle import FieldModelBundle
from docloop.ml.lattice import compact, greedy, split_at_spaces
from docloop.ml.layout import FieldLayout
from docloop.ml.reread import CharModel, Rereader, decode
from docloop.ml.textshape import TextShapeModel
from docloop.ml.tokens import split_words
from docloop.services.ocr import lines_from_json, lines_to_json

CHARS = ["A", "B", "H", "K", "M", "1", "2", " "]


def _probs(rows: list[dict[str, float]]) -> np.ndarray:
    """Recognizer output: per step, probabilities of the named classes, the rest blank."""
    out = np.zeros((len(rows), len(CHARS) + 1), np.float32)
    for t, row in enumerate(rows):
        for c, p in row.items():
            out[t, CHARS.index(c) + 1] = p
        out[t, 0] = 1.0 - sum(row.values())
    return out


def _plate(hesitant: str = "K", digits: str = "12") -> Lattice:
    """A lattice reading 'M<hesitant><digits>' where the second letter was nearly 'H' or 'K'."""
    other = "H" if hesitant == "K" else "K"
    steps = [{"M": 1.0}, {}, {hesitant: 0.52, other: 0.46}, {}, {digits[0]: 1.0}, {}]
    return compact(_probs([*steps, {digits[1]: 0.99}]), CHARS)


# Plates of one state (MH), each read with the engine hesitating between K and H.
MH_PLATES = {f"MH{d}": _plate("K", d) for d in ("11", "12", "21", "22")}


def test_the_lattice_reads_as_the_engine_and_keeps_blanks_between_equal_characters() -> None:
    lattice = compact(_probs([{"1": 1.0}, {}, {}, {}, {"1": 1.0}, {"A": 0.6, "B": 0.4}]), CHARS)
    assert greedy(lattice) == "11A"
    assert len(lattice) == 4  # the run of sure blanks folded into one step, not dropped
    assert lattice[-1] == (("A", 0.6), ("B", 0.4))


def test_words_get_their_part_of_the_line_lattice_and_none_when_the_text_was_changed() -> None:
    line = compact(_probs([{"M": 1.0}, {"H": 1.0}, {" ": 1.0}, {"1": 1.0}, {"2": 1.0}]), CHARS)
    assert [greedy(w) for w in split_at_spaces(line)] == ["MH", "12"]
    box = Box(0, 0, 50, 10)
    words = split_words([OcrToken("MH 12", box, 0.9, 0, line)])
    assert [(w.text, greedy(w.lattice or ())) for w in words] == [("MH", "MH"), ("12", "12")]
    edited = split_words([OcrToken("MH 13", box, 0.9, 0, line)])
    assert [w.lattice for w in edited] == [None, None]


def test_a_label_model_picks_the_runner_up_its_texts_expect_and_weight_zero_reads_as_before() -> (
    None
):
    model = CharModel.fit(["MH12", "MH11", "MH21", "MH22"] * 3)
    assert decode(_plate("K"), model, 0.0) == "MK12"
    assert decode(_plate("K"), model, 0.6) == "MH12"
    assert decode(_plate("H"), model, 0.6) == "MH12"
    spaced = compact(_probs([{"M": 1.0}, {"H": 1.0}, {" ": 1.0}, {"1": 1.0}, {"2": 1.0}]), CHARS)
    assert decode(spaced, model, 0.6) == "MH 12"  # a character its texts never hold passes


def test_a_letter_the_labels_texts_never_hold_is_not_read_for_free() -> None:
    """A runner-up outside the label's alphabet ("Ú") had no character-model cost, so it beat
    the letter the engine read ("SDN" re-read as "SÚN", dev receipt 274)."""
    model = CharModel.fit(["ABC SDN BHD", "XYZ SDN BHD", "KL SDN BHD"] * 4)
    lattice: Lattice = ((("S", 1.0),), (("Ú", 0.5), ("D", 0.45)), (("N", 1.0),))
    assert decode(lattice, model, 0.0) == "SÚN"
    assert decode(lattice, model, 0.3) == "SDN"
    # Lower case is no such letter: the texts say nothing of it, so it passes unscored.
    lower: Lattice = ((("S", 1.0),), (("d", 0.5), ("D", 0.45)), (("N", 1.0),))
    assert decode(lower, model, 0.3) == "SdN"


def test_a_lower_case_reading_is_context_as_the_texts_write_it() -> None:
    """Addresses annotated in capitals put a period after "NO" and a comma after other words;
    a receipt printed "No." lost its "NO" context to its lower-case "o", so a comma the engine
    half-believed won (dev receipts, "No. 343," re-read "No, 343,")."""
    model = CharModel.fit(["NO. 12, JALAN MAJU, TAMAN RIA", "NO. 7, JALAN BARU, KG. DUA"] * 4)
    mixed: Lattice = ((("N", 1.0),), (("o", 1.0),), ((",", 0.55), (".", 0.45)))
    assert decode(mixed, model, 0.3) == "No."
    capitals: Lattice = ((("N", 1.0),), (("O", 1.0),), ((",", 0.55), (".", 0.45)))
    assert decode(capitals, model, 0.3) == "NO."


def test_a_hesitation_between_lower_case_letters_is_judged_by_the_texts() -> None:
    """An "l" a little surer than an "i" passed unscored either way, and the letters after it
    were scored in its context: a space after the rare "IAN" beat one after the common "LAN"
    ("Jalan" re-read "Jaian"). Beside an upper-case letter the texts write, the case is the
    engine's to tell, and the folded letter stays unscored ("World" is not read "WorId")."""
    texts = ["NO 1, JALAN BATU", "JALAN LANGAT", "LANGAT PLANT", "LANDMARK LANE", "ADRIAN 2"] * 3
    model = CharModel.fit(texts + ["KAMPUNG LANJUT, JALAN MAJU"])
    hesitant: Lattice = ((("J", 1.0),), (("a", 1.0),), (("l", 0.52), ("i", 0.47)), (("a", 1.0),))
    jalan: Lattice = (*hesitant, (("n", 1.0),), ((" ", 1.0),), (("1", 1.0),))
    assert decode(jalan, model, 0.3) == "Jalan 1"
    assert decode(jalan, model, 0.3, scores_folded=False) == "Jaian 1"  # models fitted before
    world = CharModel.fit(["WORID", "THE WORLD"] * 3)  # as sure of an I as of an L
    mixed: Lattice = ((("W", 1.0),), (("o", 1.0),), (("r", 1.0),), (("I", 0.5), ("l", 0.45)))
    assert decode((*mixed, (("d", 1.0),)), world, 0.6) == "World"
    saved = Rereader(models={"address": model}, weights={"address": 0.3}).to_dict()
    words = [OcrToken("Jalan 1", Box(0, 0, 70, 10), 0.9, 0, jalan)]
    assert Rereader.from_dict(saved).reread("address", words) == "Jalan 1"
    del saved["scores_folded"]  # as a model fitted before wrote it
    assert Rereader.from_dict(saved).reread("address", words) == "Jaian 1"


def _fields(texts: list[str], lattice_of: dict[str, Lattice]) -> list[tuple[str, str, Lattice]]:
    return [("plate", t, lattice_of[t]) for t in texts]


def test_cross_validation_gives_the_model_weight_only_where_it_reads_more_fields_right() -> None:
    # Every plate starts MH and the engine hesitated between H and K: the model helps.
    reader = Rereader.fit(_fields(sorted(MH_PLATES) * 3, MH_PLATES))
    assert reader.weights["plate"] > 0
    words = [OcrToken("MK12", Box(0, 0, 40, 10), 0.9, 0, _plate("K"))]
    assert reader.reread("plate", words) == "MH12"
    assert reader.reread("plate", [OcrToken("MK12", Box(0, 0, 40, 10), 0.9)]) is None
    assert reader.reread("other", words) is None
    # Texts that are right as read: the model can only lose, so it gets no weight.
    rng = random.Random(0)
    names = ["".join(rng.choice("ABHKM") for _ in range(4)) for _ in range(12)]
    read = {n: compact(_probs([{c: 1.0} for c in n]), CHARS) for n in names}
    assert Rereader.fit(_fields(names, read)).weights == {"plate": 0.0}


def test_a_value_repeated_on_many_fields_is_held_out_whole() -> None:
    """One plate photographed twelve times is one value: its fields are held out together, so
    the character model is not credited with reading back a value it learned by heart. The
    folds dealt fields one by one, and a model that had seen "MH12" read every "MK12" as it."""
    assert Rereader.fit(_fields(["MH12"] * 12, {"MH12": _plate("K")})).weights == {"plate": 0.0}


def test_what_cross_validation_chooses_does_not_depend_on_the_order_fields_come_in() -> None:
    """Regression: the folds were cut in the order the pages came (their upload order), so two
    trainings on the same data gave company weights 0.3 and 0.6 (dev receipts)."""
    rng = random.Random(0)
    fields = [("plate", f"M{rng.choice('HK')}12", _plate(rng.choice("HK"))) for _ in range(30)]
    chosen = set()
    for seed in range(6):
        shuffled = list(fields)
        random.Random(seed).shuffle(shuffled)
        chosen.add(json.dumps(Rereader.fit(shuffled).to_dict(), sort_keys=True))
    assert len(chosen) == 1


def test_the_rereader_travels_in_the_bundle_and_old_bundles_read_as_the_engine() -> None:
    reader = Rereader.fit(_fields(sorted(MH_PLATES) * 3, MH_PLATES))
    layout = FieldLayout.fit([], ["plate"])
    bundle = FieldModelBundle(
        ["plate"], b"", BoxRefiner.fit([]), TextShapeModel(), layout, reader, {}
    )
    words = [OcrToken("MK12", Box(0, 0, 40, 10), 0.9, 0, _plate("K"))]
    assert FieldModelBundle.from_bytes(bundle.to_bytes()).reader.reread("plate", words) == "MH12"
    with zipfile.ZipFile(io.BytesIO(bundle.to_bytes())) as zf:
        meta = json.loads(zf.read("meta.json"))
    del meta["reader"]  # as a model trained before re-reading existed wrote it
    old = io.BytesIO()
    with zipfile.ZipFile(old, "w") as zf:
        zf.writestr("meta.json", json.dumps(meta))
        zf.writestr("model.onnx", b"")
    assert FieldModelBundle.from_bytes(old.getvalue()).reader.reread("plate", words) is None


def test_the_ocr_cache_keeps_each_lines_lattice() -> None:
    lines = [
        OcrToken("MK12", Box(0, 0, 40, 10), 0.9, 0, _plate("K")),
        OcrToken("IND", Box(0, 20, 30, 30), 0.8, 1),
    ]
    assert lines_from_json(json.loads(json.dumps(lines_to_json(lines)))) == lines


def _read(text: str, doubts: dict[int, Step] | None = None) -> Lattice:
    """A lattice reading ``text``, a blank after each character; ``doubts`` gives the step of
    a character the engine was unsure of."""
    steps: list[Step] = []
    for i, c in enumerate(text):
        steps += [(doubts or {}).get(i, ((c, 1.0),)), (("", 1.0),)]
    return tuple(steps)


def test_a_misread_word_is_mended_to_a_frequent_word_only_where_the_engine_saw_the_letter() -> None:
    """Dev receipt 326 read "SUBANG JAGA, SELENGOR": JAYA and SELANGOR are in most training
    addresses, and the engine's runner-ups held the Y and the A."""
    counts = lexicon.word_counts(["JALAN AMAN, SELANGOR"] * 5 + ["JAYA"] * 5 + ["GAYA"])
    doubt = {7: (("C", 0.99), ("E", 0.01))}
    assert greedy(lexicon.mend(_read("JALAN SCLANGOR", doubt), counts)) == "JALAN SELANGOR"
    assert greedy(lexicon.mend(_read("JALAN SCLANGOR"), counts)) == "JALAN SCLANGOR"
    assert greedy(lexicon.mend(_read("Jaian", {2: (("i", 0.7), ("l", 0.3))}), counts)) == "Jalan"
    # A word the texts hold is no misreading, however close to a frequent one.
    assert greedy(lexicon.mend(_read("GAYA", {0: (("G", 0.6), ("J", 0.4))}), counts)) == "GAYA"
    # Two characters that would merge once equal keep a blank between them.
    steps: Lattice = ((("A", 1.0),), (("B", 0.6), ("A", 0.4)), (("X", 1.0),))
    assert greedy(lexicon.mend(steps, lexicon.word_counts(["AAX"] * 5))) == "AAX"
    before: Lattice = ((("A", 1.0),), (("B", 0.6), ("X", 0.4)), (("X", 1.0),))
    assert greedy(lexicon.mend(before, lexicon.word_counts(["AXX"] * 5))) == "AXX"


def test_cross_validation_mends_words_where_it_reads_more_fields_right_than_the_model() -> None:
    doubt = {9: (("A", 0.999), ("E", 0.001))}
    fields = [(f"JALAN {n} SELANGOR", _read(f"JALAN {n} SALANGOR", doubt)) for n in "ABCDEFGHIJKL"]
    reader = Rereader.fit([("address", text, read) for text, read in fields])
    assert reader.weights == {"address": 0.0} and reader.words["address"]["SELANGOR"] == 12
    lattice = _read("JALAN SALANGOR", {7: (("A", 0.999), ("E", 0.001))})
    words = [OcrToken("JALAN SALANGOR", Box(0, 0, 140, 10), 0.9, 0, lattice)]
    assert reader.reread("address", words) == "JALAN SELANGOR"
    again = Rereader.from_dict(reader.to_dict())
    assert again.reread("address", words) == "JALAN SELANGOR"
    saved = reader.to_dict()
    del saved["words"]  # as a model trained before the lexicon wrote it
    assert Rereader.from_dict(saved).reread("address", words) is None
    # Fields read right as they are: mending can only lose, so the label is not mended.
    plain = Rereader.fit([("address", "JALAN SALANGOR", lattice)] * 12)
    assert plain.words == {}
