"""The thresholds that turn a network's per-word beliefs into fields, saved with each model.

A served model version must read a page the same way for as long as it is served, whatever
release of docloop serves it. So every threshold the field grouping uses lives here, the
training that made a bundle stores the values it used (``FieldModelBundle.decoding``), and
prediction reads them from the bundle, never from module constants. A release that changes a
default changes what *new* trainings store; versions already trained keep theirs.

Each value is fixed by what it means, not fitted to a file: the fitted, per-model choices
(how much the character model weighs, which edit share reads known values, whether the
punctuation channel is kept) are chosen by cross-validation on the model's own training files
in ``reread.py``, ``known_values.py`` and ``punctuation.py`` and travel in the bundle too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    """Thresholds of ``decode.group_fields``, and how a model's own recognizer cuts lines."""

    # A label no word wins is read from its likeliest word at least this likely: below it the
    # network saw nothing of the label, and a guess would be a field a reviewer must delete.
    fallback_min_prob: float = 0.15
    # An untagged word next to a tagged one joins the field from this belief up (hysteresis):
    # short groups of a plate are less sure alone than beside their neighbours.
    grow_min_prob: float = 0.2
    # A word another class won is still a candidate of a label this likely. Candidates rank
    # below every surer field and are alternatives a v2 client does not get unless it asks,
    # so the bound is low: where a network's belief in a barely seen field lands varies from
    # one training to the next.
    doubt_min_prob: float = 0.01
    # Share of an untagged word's area inside a field's extent that makes it part of the field.
    enclosed: float = 0.8
    # A field's top or bottom line is dropped when the network's mean belief in it is below
    # this ("less likely than not"), while more than ``min_lines_kept`` lines remain: one row
    # of a two-row field can be that doubtful.
    edge_line_min_prob: float = 0.5
    min_lines_kept: int = 2
    # Down to one line, a doubted line still goes unless the field read with it takes a shape
    # the label's values take and read without it does not (``decode._trim_edge_lines``): the
    # doubted row of a two-row plate completes the plate's format, and a trade name printed
    # over a company's registered name completes nothing. Models trained before keep the last
    # ``min_lines_kept`` lines.
    doubted_rows_by_shape: bool = True
    # Where pages held a second instance of a label less often than ``rare_second``, tagged
    # words up to ``rare_second_slack`` times the label's widest gap apart make one field: a
    # split field is then likelier than a second instance.
    rare_second: float = 0.5
    rare_second_slack: float = 2.0
    # Two words of the same text whose boxes overlap this much (IoU) are one word read twice.
    duplicate_iou: float = 0.5
    # A second (third...) instance of a label made of words the network itself tagged with the
    # label keeps its own score instead of being scaled by the rank prior. The prior counts
    # annotated instances, and people often mark one of a repeated object (one plate of two
    # cars); a whole second group the network tagged with the label is evidence that count
    # lacks. Candidates of words the network doubted still get
    # the prior, so they rank below every surer field and stay alternatives.
    tagged_instances: bool = True
    # A model's own recognizer reads a line cut along the engine's tilted quadrilateral, as
    # its training cut the lines it learned from (``recognizer/crops.py``); models tuned before
    # training cut them so learned from upright boxes and read those.
    tilted_lines: bool = True
    # The widest a line is read at by the model's own recognizer (``recognizer/crops.py``):
    # wider lines are squeezed to it. Models tuned before lines were read at their own width
    # learned from, and read, lines squeezed to 320 pixels.
    line_max_width: int = 1920
    # A field of a label whose training fields spanned two rows or more takes the untagged row
    # right above or below it where that row completes a value of a shape the label's values
    # take (``decode._Page._completing_row``): the network can miss one row of a two-row plate
    # (a top row read with dots, over a bottom row it is sure of). Models trained before read the
    # tagged rows alone.
    adjacent_rows: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DecodeConfig:
        """The stored values; a bundle written before they were stored gets ``FORMAT_2``,
        the values every release reading that format used. Unknown keys are refused, so a
        bundle from a newer release is never read with thresholds it did not mean."""
        if data is None:
            return FORMAT_2
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown decoding settings {sorted(extra)}")
        return cls(**{**ADDED_LATER, **data})


# What bundles of format 2 were decoded with (module constants then). Spelled out, so that a
# change of a default above never changes how those bundles read.
FORMAT_2 = DecodeConfig(
    fallback_min_prob=0.15,
    grow_min_prob=0.2,
    doubt_min_prob=0.01,
    enclosed=0.8,
    edge_line_min_prob=0.5,
    min_lines_kept=2,
    rare_second=0.5,
    rare_second_slack=2.0,
    duplicate_iou=0.5,
    tagged_instances=False,
    tilted_lines=False,
    line_max_width=320,
    adjacent_rows=False,
    doubted_rows_by_shape=False,
)

# Settings added after bundles started storing theirs, with the value such a bundle was decoded
# with: a stored dict without the key means the behaviour from before the key existed.
ADDED_LATER: dict[str, Any] = {
    "tagged_instances": False,
    "tilted_lines": False,
    "line_max_width": 320,
    "adjacent_rows": False,
    "doubted_rows_by_shape": False,
}
