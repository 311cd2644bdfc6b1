"""Text correction learned from a label's training texts.

From the texts annotated for a label we learn its alphabet, whether it is ever lower case, and the
shapes it takes (letters as A, digits as 9: "MH02CB4545" -> "AA99AA9999"). A prediction whose
shape was never seen is moved to the closest frequent shape through look-alike swaps (O/0, I/1,
S/5, ...) and a separating mark put back ("8817" -> "88.17"), for the labels where
that reads held-out training fields better (``choose_swaps``).
Nothing here knows what a plate or a date is; a label with free-form text learns no dominant
shape and is left alone. Labels whose values recur are read as the nearest value seen in
training (``known_values.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from docloop.ml.known_values import KnownValues
from docloop.ml.labels import comparable
from docloop.ml.shape_chain import ShapeChain

# Characters an OCR engine confuses; used in both directions.
LOOKALIKES = {
    "O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5",
    "B": "8", "G": "6", "T": "7", "A": "4",
}  # fmt: skip
_TO_LETTER: dict[str, str] = {}
for _letter, _digit in LOOKALIKES.items():
    _TO_LETTER.setdefault(_digit, _letter)

MIN_EXAMPLES = 10
MAX_SWAPS = 2
# A shape this many distinct values take, and at least this share of them, is one the label
# takes; parts of longer texts are cut to it.
MIN_SHAPE_COUNT = 3
MIN_SHAPE_SHARE = 0.05
MAX_EXTRACT_LEN = 48
SHAPED_SHARE = 0.5
# Times a shape must be seen glued to a label's values to be one its readings glue to them: a
# pair, so one odd reading does not license cutting others the same way.
MIN_GLUED = 2
# Training fields whose readings hold a mark their label's annotations never write, for the
# mark to be the engine's noise on that label: a pair, for the same reason.
MIN_NOISE = 2


_RUN = re.compile(r"A+|9+|[^A9]")  # a shape's runs of letters, of digits, and its other marks


def shape(text: str) -> str:
    return "".join("A" if c.isalpha() else "9" if c.isdigit() else c for c in text)


@dataclass
class TextShapeModel:
    """Per-label statistics; ``correct`` applies them to a predicted text."""

    alphabet: dict[str, str] = field(default_factory=dict)
    upper_only: dict[str, bool] = field(default_factory=dict)
    no_spaces: dict[str, bool] = field(default_factory=dict)
    shapes: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    prefixes: dict[str, dict[str, int]] = field(default_factory=dict)
    detached: dict[str, list[str]] = field(default_factory=dict)
    known: KnownValues = field(default_factory=KnownValues)
    # Labels whose reads are never moved to another shape (``choose_swaps``); models trained
    # before the choice moved every label's.
    unswapped: list[str] = field(default_factory=list)
    # Whether a reshaping may also put back a separating mark (``_to_shape``); models trained
    # before swapped letters and digits only.
    mends_marks: bool = False
    # Per label, the shapes of what its readings hold glued before ("heads") and after
    # ("tails") the annotated value (``learn_glued``). None for models trained before: they cut
    # a value out of a longer reading anywhere.
    glued: dict[str, dict[str, list[str]]] | None = None
    # Whether a look-alike swap turns a digit only into a letter the label writes
    # (``_swap_to``); models trained before swapped to any look-alike letter.
    own_letters: bool = False
    # Whether ``_extract`` counts a mark the label never writes at a part's edge with the glue
    # beside it, and cuts out a part of a shape seen ``MIN_SHAPE_COUNT`` times, or a shorter
    # form of a frequent one cut off whole, where glue fits on both sides (``_glue_fits``);
    # models trained before cut as they did.
    glue_edges: bool = False
    # Whether a row beside a field may complete it to a shape the label's values took too
    # rarely to count, where the chain of its character classes is likelier with the row
    # than without (``ShapeChain``); models trained before took a row only to a shape seen
    # ``MIN_SHAPE_COUNT`` times.
    rows_by_chain: bool = False
    # Whether what a cut leaves fits where it ends with a glued head or starts with a glued
    # tail, not only where it is one (``_glue_fits``); models trained before took exact glue.
    glue_ends: bool = False
    # Per label of free-form values, the marks its annotations never write that the engine
    # read in its training fields at least ``MIN_NOISE`` times (``learn_noise``): only those
    # are dropped from its readings. A label absent (one with formats, or any label of a model
    # trained before) drops every mark it never writes.
    noise: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, examples: Iterable[tuple[str, str]]) -> TextShapeModel:
        """Learn from (label, text) pairs."""
        texts: dict[str, list[str]] = {}
        for label, text in examples:
            if text:
                texts.setdefault(label, []).append(text)
        model = cls(
            known=KnownValues.fit((k, t) for k, items in texts.items() for t in items),
            mends_marks=True,
            own_letters=True,
            glue_edges=True,
            rows_by_chain=True,
            glue_ends=True,
        )
        for label, items in texts.items():
            model.counts[label] = len(items)
            model.alphabet[label] = "".join(sorted({c for t in items for c in t}))
            model.upper_only[label] = not any(c.islower() for t in items for c in t)
            model.no_spaces[label] = not any(c.isspace() for t in items for c in t)
            # Over distinct values: a seller's name on forty receipts is one name, not a format.
            distinct = {comparable(t): t for t in items}.values()
            model.shapes[label] = dict(Counter(shape(_squash(t)) for t in distinct))
            model.prefixes[label] = dict(Counter(p for t in distinct if (p := _prefix(t))))
        return model

    def learn_detached(self, fields: Iterable[tuple[str, str, str, str]]) -> None:
        """Learn the words a label's annotations leave out when the engine prints them apart
        before the value, from (label, word left of the annotated words on their line, the
        annotated words' reading, annotated text).

        A currency printed apart ("RM 33.90") was left out of annotated receipt
        totals 22 times and kept 10 times; where the network tags it, it is read without."""
        dropped: dict[str, Counter[str]] = {}
        kept: dict[str, Counter[str]] = {}
        for label, left, reading, text in fields:
            first, *rest = reading.split() or [""]
            wordy = not any(c.isdigit() for c in left)
            if left and wordy and not comparable(text).startswith(comparable(left)):
                dropped.setdefault(label, Counter())[left.upper()] += 1
            wordy = not any(c.isdigit() for c in first)
            if rest and wordy and comparable(text).startswith(comparable(first)):
                kept.setdefault(label, Counter())[first.upper()] += 1
        self.detached = {
            label: sorted(
                w
                for w, n in words.items()
                if n >= MIN_SHAPE_COUNT and n > kept.get(label, Counter())[w]
            )
            for label, words in dropped.items()
        }

    def learn_glued(self, fields: Iterable[tuple[str, str, str]]) -> None:
        """Learn what a label's readings hold glued to its value, from (label, reading of the
        annotated words, annotated text): the outlines (``_outline``) of what comes before the
        value in the reading ("A:" of "Date:9/3/2018") and after it ("9:9:9" of a time the
        engine read without a space after the date), those seen at least ``MIN_GLUED`` times.

        ``_extract`` cuts a value out of a longer reading; where the cut falls inside a run of
        digits or letters, only this tells a value glued to something from a value of a format
        the label rarely takes: "2018/02/2213:34:14" is a date and a time, "2018-03-23" one date
        whose year is not to be cut to "18", and "1,007.50" one amount."""
        heads: dict[str, Counter[str]] = {label: Counter() for label in self.counts}
        tails: dict[str, Counter[str]] = {label: Counter() for label in self.counts}
        for label, reading, text in fields:
            if self.counts.get(label, 0) < MIN_EXAMPLES or not text:
                continue
            read = _squash(self._prepared(label, reading)).upper()
            value = _squash(text).upper()
            at = read.find(value)
            if value and at >= 0:
                heads[label][_outline(read[:at])] += at > 0
                tails[label][_outline(read[at + len(value) :])] += at + len(value) < len(read)
        self.glued = {
            label: {
                side: sorted(k for k, n in counts[label].items() if n >= MIN_GLUED)
                for side, counts in (("heads", heads), ("tails", tails))
            }
            for label in self.counts
        }

    def learn_noise(self, fields: Iterable[tuple[str, str]]) -> None:
        """Learn which marks the engine reads as noise on each label of free-form values (no
        format, ``_frequent_shapes``), from (label, reading of the annotated words) of its
        training fields.

        A mark a name's training values never write is not noise for that alone: a few
        sellers write a hyphen or a colon, and a label can see none of them in training
        ("IN-SPARKLE TRADING" was returned "INSPARKLE TRADING" where no training company had
        a hyphen). What the engine reads in field after field where no annotation writes it
        is. A label with formats (plates, dates, amounts) still drops every mark it never
        writes: its formats say which marks go where, and a misread one is put back
        (``_to_shape``), as "RM5:00" reads "RM5.00"."""
        seen: dict[str, Counter[str]] = {
            label: Counter()
            for label in self.alphabet
            if self.counts[label] >= MIN_EXAMPLES and not self._frequent_shapes(label)
        }
        for label, reading in fields:
            if label in seen:
                seen[label].update(
                    {c for c in reading if _is_mark(c) and c not in self.alphabet[label]}
                )
        self.noise = {
            label: sorted(c for c, n in counts.items() if n >= MIN_NOISE)
            for label, counts in seen.items()
        }

    def choose_swaps(self, held_out: dict[str, list[tuple[str, str]]]) -> None:
        """Keep the look-alike swaps for a label only where they read more of its held-out
        fields right, from (reading, annotated text) pairs of fields the reading did not learn
        from, each corrected with the shapes of the label's other values. A tie keeps them:
        where no held-out field tells either way (receipt dates and totals, whose readings the
        swaps never changed), the engines' look-alike confusions are the better guess.

        A value of a rare format is read as the engine read it then: on number plates the swaps
        turned plates of shapes seen once or never ("KA031351", "HR696969", "NISSAN000") into
        the common format ("KA03I351") five times in 188 training fields and mended none that
        re-reading had not mended already."""
        self.unswapped = []
        for label, pairs in sorted(held_out.items()):
            if self.counts.get(label, 0) < MIN_EXAMPLES or not pairs:
                continue
            right = {True: 0, False: 0}
            for read, text in pairs:
                for swaps in right:
                    right[swaps] += comparable(self._held_out(label, read, text, swaps)) == (
                        comparable(text)
                    )
            if right[True] < right[False]:
                self.unswapped.append(label)

    def _held_out(self, label: str, read: str, text: str, swaps: bool) -> str:
        """``correct``'s reading of ``read`` with or without swaps, ``text``'s own value left
        out of the shapes (it counts once among the distinct values)."""
        shapes, own = self.shapes[label], shape(_squash(text))
        counted = own in shapes
        if counted:
            shapes[own] -= 1
        try:
            return self._corrected(label, read, swaps)
        finally:
            if counted:
                shapes[own] += 1

    def correct(self, label: str, text: str) -> str:
        return self._corrected(label, text, label not in self.unswapped)

    def _corrected(self, label: str, text: str, swaps: bool) -> str:
        if self.counts.get(label, 0) < MIN_EXAMPLES:
            return text
        text = self._prepared(label, text)
        if self.glued is None:
            text = self._extract(label, self._kept(label, text), _unchanged)
        else:
            # Cut before the marks the label never writes go: a time glued to a date keeps
            # its colons, so "21:30" after "11/03/18" is seen to be one.
            text = self._kept(label, self._extract(label, text, partial(self._kept, label)))
        if swaps:
            text = self._reshape(label, text)
        return self.known.read(label, text)

    def _prepared(self, label: str, text: str) -> str:
        """``text`` in the label's case and letters, without a word its annotations leave out."""
        if self.upper_only[label]:
            text = text.upper()
        first, _, rest = text.strip().partition(" ")
        if rest and first.upper() in self.detached.get(label, ()):
            text = rest
        if self.alphabet[label].isascii():
            # The engine's "Á" in "SETIA ÁLAM" is a stain on the scan, not an accent.
            text = "".join(_to_ascii(c) for c in text)
        return text

    def _kept(self, label: str, text: str) -> str:
        """``text`` without the marks the engine reads as noise on the label (``learn_noise``;
        on a label with formats, every mark it never writes), and without its spaces where it
        has none. Letters and digits are kept, since too few examples show every one of them."""
        if label in self.noise:
            noise = set(self.noise[label])
            text = "".join(c for c in text if c not in noise)
        else:
            alphabet = set(self.alphabet[label]) | {" "}
            text = "".join(c for c in text if c.isalnum() or c in alphabet)
        return _squash(text) if self.no_spaces[label] else text

    def correct_in_line(self, label: str, text: str, line: str) -> str:
        """``correct``, widened to the words around it on its line when the tagged words hold
        only part of a value: "MAR 2018" of "03 Mar 2018 18:22" is read as "03 MAR 2018".

        Only for labels whose texts take a few frequent shapes, and only to a shape seen more
        often than the tagged words' own ("RM 9.00" is a frequent total too, but "9.00" more
        so). The widened value must share a whole word with the tagged ones, so "9.00" on a line
        with "19.00" stays "9.00"; it need not hold them all, so "Apr 2018 18:31", tagged with
        the time and without the day, is read as "02 APR 2018". Labels with known values are
        left to them: their frequent shapes are single recurring names, and how much of a
        name's line the name is varies by key ("THREE STOOGES" on the line "THREE STOOGES
        BISTRO").
        """
        fixed = self.correct(label, text)
        if not self._widened(label) or self.no_spaces[label]:
            return fixed
        wider = self.correct(label, line)
        if self._more_usual(label, wider, fixed) and set(wider.split()) & set(fixed.split()):
            return wider
        return fixed

    def completed(self, label: str, text: str, wider: str) -> str | None:
        """The reading ``wider`` of a field's words with more words beside them, corrected,
        where it takes a shape the label's values take (``MIN_SHAPE_COUNT`` times, and more
        often than the field's own corrected ``text``); else None. Only for labels whose values
        take a few frequent shapes and that read no known values (``correct_in_line`` says
        why): with the row the network left out of a two-row plate, the row it tagged makes
        one of the label's formats; with a dealer's line under a plate it does not. A shape
        seen too rarely to count completes it where the chain of its character classes is
        likelier than the field's own (``ShapeChain.likelier``): a plate of a format few
        values took, whose bottom row alone starts as none of the label's values start."""
        if not self._widened(label):
            return None
        fixed = self.correct(label, wider)
        if self._more_usual(label, fixed, text) or self._likelier_rare(label, fixed, text):
            return fixed
        return None

    def _widened(self, label: str) -> bool:
        """Whether a field of ``label`` may be read with words beside its own."""
        return bool(self._frequent_shapes(label)) and label not in self.known.values

    def _likelier_rare(self, label: str, wider: str, text: str) -> bool:
        """Whether ``wider`` takes a shape the label's values took too rarely to count
        (``MIN_SHAPE_COUNT``) that the chain of their character classes finds likelier than
        ``text``'s (``ShapeChain.likelier``); never for models trained before
        ``rows_by_chain``."""
        shapes, own = self.shapes[label], shape(_squash(wider))
        if not self.rows_by_chain or shapes.get(own, 0) >= MIN_SHAPE_COUNT:
            return False
        return ShapeChain.fit(shapes, MIN_SHAPE_COUNT).likelier(own, shape(_squash(text)))

    def _more_usual(self, label: str, wider: str, text: str) -> bool:
        """Whether ``wider`` takes a shape of the label's values seen ``MIN_SHAPE_COUNT``
        times and more often than ``text``'s."""
        shapes = self.shapes[label]
        count = shapes.get(shape(_squash(wider)), 0)
        return count >= MIN_SHAPE_COUNT and count > shapes.get(shape(_squash(text)), 0)

    def plausibility(self, label: str, text: str) -> float:
        """How likely a label's value is to be ``text``, as far as its training values say.

        By shape, for labels whose values take a few formats: 1 for a shape they took (or a
        frequent prefix glued to one), else the share of distinct values whose shape was seen
        once (Good-Turing's estimate of how often a value takes a shape never seen). Times, for
        labels whose values recur, ``KnownValues.plausibility``. Free text: 1.

        A reading that look-alike swaps would move to a shape the label takes is as plausible
        as that shape where the label keeps its readings unswapped (``choose_swaps``): the
        engine confuses those characters, and what the text is written as is another matter
        than how likely the words are to be the label's."""
        known = self.known.plausibility(label, text)
        if label in self.unswapped:
            text = self._reshape(label, text)
        shapes = self.shapes.get(label, {})
        if (
            not self._frequent_shapes(label)
            or not text.strip()
            or shapes.get(shape(_squash(text)), 0)
            or self._prefixed(label, text)
        ):
            return known
        once = sum(1 for n in shapes.values() if n == 1)
        return known * max(once, 1) / sum(shapes.values())

    def _frequent_shapes(self, label: str) -> set[str]:
        """The shapes a label takes often, when most of its values take one; else none.

        Names are written in letters only, so names of one length share a shape by chance
        (12 of 177 distinct sellers on a receipts dataset have 19 letters). Counted once per
        receipt, the recurring sellers made such lengths cover 85% of company texts, and
        "SUPER SEVEN CASH & CARRY SDN BHD" was cut to a 14-letter part of it. Counted per
        distinct value, lengths shared by a handful of names still covered 55%; a format is a
        shape a sizeable share of the values take, as half the dates take "99/99/9999".
        """
        if self.counts.get(label, 0) < MIN_EXAMPLES:
            return set()
        shapes = self.shapes[label]
        least = self._frequent_count(label)
        frequent = {k for k, n in shapes.items() if n >= least}
        if sum(shapes[k] for k in frequent) < SHAPED_SHARE * sum(shapes.values()):
            return set()
        return frequent

    def _prefixed(self, label: str, text: str) -> bool:
        """Whether ``text`` is a frequent prefix of the label's values glued to a shape its
        values take: "RM367.10", where totals often start with "RM" and "999.99" is a total's
        shape, even if no training total was "RM" and three digits."""
        prefix = _prefix(text)
        if not prefix:
            return False
        rest = shape(_squash(text.strip()[len(prefix) :]))
        return (
            self.prefixes.get(label, {}).get(prefix, 0) >= self._frequent_count(label)
            and self.shapes[label].get(rest, 0) >= 2
        )

    def _frequent_count(self, label: str) -> float:
        """How many of a label's distinct values a shape or prefix takes to be one it takes."""
        return max(MIN_SHAPE_COUNT, MIN_SHAPE_SHARE * sum(self.shapes[label].values()))

    def _extract(self, label: str, text: str, kept: Callable[[str], str]) -> str:
        """The longest part of ``text`` whose shape (of what ``kept`` keeps of it) is a
        frequent one, when its own is not.

        OCR glues neighbours to a value ("DATE27/07/17", "19-03-201818:08:38"); the shapes a
        label takes say where the value ends. Only labels most of whose texts take a frequent
        shape are cut: free text (names, addresses) is left as it is. Where the model learned
        what its readings glue to a value (``learn_glued``), parts with glued shapes (or
        nothing) on more sides come first, and a part whose start cuts into a run of digits or
        letters is taken only after a glued head (``_glue_fits``).
        """
        shapes = self.shapes[label]
        core = shape(_squash(kept(text)))
        if (
            shapes.get(core, 0) >= 2
            or len(core) > MAX_EXTRACT_LEN
            or self._prefixed(label, kept(text))
        ):
            return text
        frequent = self._frequent_shapes(label)
        if not frequent:
            return text
        # Whole words first ("21/02/18" out of "21/02/18 11:47"), then any run of characters.
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        word_spans = [
            (words[i][0], words[j][1]) for i in range(len(words)) for j in range(i, len(words))
        ]
        chars = [i for i, c in enumerate(text) if not c.isspace()]
        char_spans = [
            (chars[i], chars[j] + 1) for i in range(len(chars)) for j in range(i, len(chars))
        ]
        for spans in (word_spans, char_spans):
            found = []
            for start, end in spans:
                if self.glue_edges:
                    start, end = _without_edge_marks(text, start, end, kept)
                part = shape(_squash(kept(text[start:end])))
                if len(part) >= len(core) or not part:
                    continue
                usual = part in frequent
                seen = self.glue_edges and (
                    shapes.get(part, 0) >= MIN_SHAPE_COUNT
                    or (_shorter_form(part, frequent) and not _cuts_run(text, start, end))
                )
                if usual or seen:
                    fits = self._glue_fits(label, text, start, end)
                    if fits is not None and (usual or fits == 2):
                        found.append((fits, len(part), shapes.get(part, 0), -start, start, end))
            if found:
                *_, start, end = max(found)
                return text[start:end]
        return text

    def _glue_fits(self, label: str, text: str, start: int, end: int) -> int | None:
        """On how many sides of ``text[start:end]`` what the cut leaves is nothing or a shape
        the label's readings glue to a value. None where the cut before it falls inside a run
        of digits or letters (or a number) and what it leaves does not even end like a glued
        head: a value's first characters are not cut off ("2018-03-23" is no date "18-03-23",
        "1,007.50" no amount "007.50") unless readings show such glue, while what follows a
        value is often a character the engine added ("48.000"). 0 for models that did not
        learn glued shapes."""
        if self.glued is None:
            return 0
        heads = self.glued.get(label, {}).get("heads", [])
        tails = self.glued.get(label, {}).get("tails", [])
        head, tail = _outline(_squash(text[:start])), _outline(_squash(text[end:]))
        if head and _splits_run(text, start) and not any(head.endswith(g) for g in heads):
            return None
        if not self.glue_ends:
            return (not head or head in heads) + (not tail or tail in tails)
        return (not head or _glued(head, heads, str.endswith)) + (
            not tail or _glued(tail, tails, str.startswith)
        )

    def _reshape(self, label: str, text: str) -> str:
        """``text`` moved to the closest frequent shape the label's values take, at most
        ``MAX_SWAPS`` edits away, when its own is not one (``_to_shape`` says what an edit is)."""
        shapes = self.shapes[label]
        positions = [i for i, c in enumerate(text) if not c.isspace()]
        core = "".join(text[i] for i in positions)
        if shapes.get(shape(core), 0) >= 2:
            return text
        best: tuple[int, int, str] | None = None  # (edits, -count, new text)
        for target, count in shapes.items():
            if count < 2:
                continue
            found = _to_shape(
                text, positions, target, self.alphabet[label], self.mends_marks, self.own_letters
            )
            if (
                found is not None
                and found[0] <= MAX_SWAPS
                and (best is None or (found[0], -count) < best[:2])
            ):
                best = (found[0], -count, found[1])
        return text if best is None else best[2]

    def to_dict(self) -> dict[str, Any]:
        return {
            "alphabet": self.alphabet,
            "upper_only": self.upper_only,
            "no_spaces": self.no_spaces,
            "shapes": self.shapes,
            "counts": self.counts,
            "prefixes": self.prefixes,
            "detached": self.detached,
            "known": self.known.to_dict(),
            "unswapped": self.unswapped,
            "mends_marks": self.mends_marks,
            "glued": self.glued,
            "own_letters": self.own_letters,
            "glue_edges": self.glue_edges,
            "rows_by_chain": self.rows_by_chain,
            "glue_ends": self.glue_ends,
            "noise": self.noise,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextShapeModel:
        data = dict(data)
        known = KnownValues.from_dict(data.pop("known", None))
        return cls(**data, known=known)


def _to_ascii(c: str) -> str:
    """A letter without its accents ("Á" -> "A"); other characters unchanged."""
    if c.isascii():
        return c
    base = unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
    return base if len(base) == 1 else c


def _prefix(text: str) -> str:
    """What a value writes before its first digit, glued to it ("RM" of "RM9.00", but nothing
    of "RM 9.00": a total printed apart from its currency is mostly annotated without it)."""
    found = re.match(r"\S*?(?=\d)", text.strip())
    return found.group(0) if found else ""


def _without_edge_marks(
    text: str, start: int, end: int, kept: Callable[[str], str]
) -> tuple[int, int]:
    """``text[start:end]`` less the characters at its ends that ``kept`` drops: a mark the
    label never writes belongs to what it glues to the value, so "02/02/1719:" of
    "02/02/1719:46" leaves the tail ":46", not a time's "46"."""
    while start < end and not kept(text[start]).strip():
        start += 1
    while end > start and not kept(text[end - 1]).strip():
        end -= 1
    return start, end


def _unchanged(text: str) -> str:
    return text


def _outline(text: str) -> str:
    """``text``'s shape with each run of letters or digits as one: a time glued after a date
    is "9:9:9" whether the engine read "13:34:14" or "5:57:07", and "9" where the label's
    alphabet drops the colons."""
    return re.sub(r"(A)A+|(9)9+", r"\1\2", shape(text.upper()))


def _glued(left: str, glued: Iterable[str], at_edge: Callable[[str, str], bool]) -> bool:
    """Whether ``left``, what a cut leaves beside a value, is a glued shape or has one holding
    a mark at the value's side (``at_edge``: a tail starts with it, a head ends with it): a
    time glued after a date and then "PM" ("9:9:9A") is glue, while a lone run ("9") also
    starts what a cut into a year leaves ("9A:" of "2018TIME:"), so that one must be whole."""
    return any(left == g or (any(_is_mark(c) for c in g) and at_edge(left, g)) for g in glued)


def _shorter_form(part: str, frequent: Iterable[str]) -> bool:
    """Whether the shape ``part`` is a frequent shape with fewer characters in some of its runs
    of digits or letters and the same marks between them: "9/9/9999" ("9/3/2018", a day and a
    month without their leading zeros) of "99/99/9999"."""
    runs = _RUN.findall(part)
    return any(
        len(runs) == len(theirs := _RUN.findall(k))
        and all(r[0] == t[0] and len(r) <= len(t) for r, t in zip(runs, theirs, strict=True))
        for k in frequent
    )


def _cuts_run(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is cut out of a run of digits or letters, or of a number,
    at either end (``_splits_run``). A shorter form of a frequent shape is taken only whole: a
    digit run glued after a date is a learned tail, and "02/02/1719:4" of "02/02/1719:46" is a
    shorter form of a date too."""
    return _splits_run(text, start) or _splits_run(text, end)


def _splits_run(text: str, at: int) -> bool:
    """Whether a cut before ``text[at]`` falls inside a run of digits or of letters, or on
    either side of a separator inside a number ("1,|007.50", "7|,838.80": the part's shape is
    taken without the marks the label never writes, so either cut leaves a frequent one)."""
    if at <= 0 or at >= len(text):
        return False
    left, right = text[at - 1], text[at]
    if (left.isdigit() and right.isdigit()) or (left.isalpha() and right.isalpha()):
        return True
    if left in ",." and right.isdigit():
        return at >= 2 and text[at - 2].isdigit()
    return right in ",." and left.isdigit() and at + 1 < len(text) and text[at + 1].isdigit()


def _squash(text: str) -> str:
    return "".join(c for c in text if not c.isspace())


def _to_shape(
    text: str, positions: list[int], target: str, alphabet: str, marks: bool, own_letters: bool
) -> tuple[int, str] | None:
    """``text`` (whose non-space characters are at ``positions``) edited to take the shape
    ``target``, with the number of edits, or None when it cannot.

    An edit swaps a look-alike letter and digit; with ``marks``, it also puts back the one
    separating mark between two characters that the engine lost ("8817", "15 15" for "88.17",
    "15.15"): a faint period is the mark an engine misses most, and the shape the label's values
    take says which mark goes where. A mark read is never swapped for another: where a label
    writes both, the one read is the better guess, and a swap would move a date of a rare
    format written with slashes ("15/APR/2017") to a frequent one written with dashes."""
    core = "".join(text[i] for i in positions)
    if len(target) == len(core):
        swapped = _swap_to(core, target, alphabet, own_letters)
        if swapped is None:
            return None
        return sum(a != b for a, b in zip(core, swapped, strict=True)), _respaced(text, swapped)
    if not marks or len(target) != len(core) + 1:
        return None
    best: tuple[int, str] | None = None
    for k in range(1, len(core)):
        if not _is_mark(target[k]):
            continue
        swapped = _swap_to(core[:k] + target[k] + core[k:], target, alphabet, own_letters)
        if swapped is None:
            continue
        edits = 1 + sum(a != b for a, b in zip(core, swapped[:k] + swapped[k + 1 :], strict=True))
        if best is None or edits < best[0]:
            # Spaces where the mark goes were the engine's reading of it.
            spaced = text[: positions[k - 1] + 1] + target[k] + text[positions[k] :]
            best = (edits, _respaced(spaced, swapped))
    return best


def _respaced(spaced: str, chars: str) -> str:
    """``spaced`` with its non-space characters replaced, in order, by ``chars``."""
    rest = iter(chars)
    return "".join(c if c.isspace() else next(rest) for c in spaced)


def _is_mark(c: str) -> bool:
    return not c.isalnum() and not c.isspace()


def _swap_to(core: str, target: str, alphabet: str, own_letters: bool) -> str | None:
    """``core`` with look-alike letters and digits swapped to take the shape ``target``; None
    where it cannot. With ``own_letters``, a digit becomes only a letter the label writes: a
    total whose values hold no letter but "RM" is not read "TB38.80" for "7838.80"."""
    out = []
    for c, t in zip(core, target, strict=True):
        if shape(c) == t:
            out.append(c)
        elif t == "9" and c.upper() in LOOKALIKES:
            out.append(LOOKALIKES[c.upper()])
        elif t == "A" and c in _TO_LETTER:
            letter = _TO_LETTER[c]
            if own_letters and letter not in alphabet and letter.lower() not in alphabet:
                return None
            out.append(
                letter if letter in alphabet or letter.lower() not in alphabet else letter.lower()
            )
        else:
            return None
    return "".join(out)
