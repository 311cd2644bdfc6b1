"""Data checks before training: what is clipped, excluded or grouped, and the report says why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from docloop.domain import Box, OcrToken
from docloop.ml.data import LabelledPage
from docloop.ml.train import group_keys, split_pages
from docloop.services.validation import NEAR_DUPLICATE_BITS, check, phash

rng = np.random.default_rng(0)
PHOTOS = {name: rng.integers(0, 255, (80, 120, 3), dtype=np.uint8) for name in "abcdef"}


def _file(name: str, anns: list[dict[str, Any]], blob: str | None = None) -> dict[str, Any]:
    return {
        "blob_hash": blob or name * 64,
        "filename": f"{name}.jpg",
        "pages": [{"width": 120, "height": 80}],
        "annotations": anns,
    }


def _ann(xmin: float, ymin: float, xmax: float, ymax: float, label: str = "plate") -> dict:  # type: ignore[type-arg]
    box = {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    return {"label": label, "box": box, "text": "AB12", "page": 0}


def _reader(f: dict[str, Any]) -> np.ndarray:
    key = f["filename"][0]
    if key == "x":
        raise OSError("cannot identify image file")
    if key == "r":  # photo "a", re-encoded at another size: a near-duplicate
        return np.asarray(Image.fromarray(PHOTOS["a"]).resize((150, 100)))
    return PHOTOS[key]


def test_boxes_are_clipped_or_excluded_and_bad_files_listed_with_reasons() -> None:
    files = [
        _file("a", [_ann(100, 10, 130, 30)]),  # two thirds inside: clipped to the page
        _file("b", [_ann(10, 10, 40, 30), _ann(110, 70, 200, 200)]),  # second mostly outside
        _file("c", [_ann(10, 10, 11, 30)]),  # degenerate: 1 pixel wide; no annotation left
        _file("d", []),  # never annotated
        _file("x", [_ann(10, 10, 40, 30)]),  # unreadable
        _file("e", [_ann(10, 10, 40, 30)], blob="a" * 64),  # the same bytes as "a"
        _file("f", [_ann(10, 10, 40, 30, label="colour")]),  # not a label of the model
    ]
    kept, report = check(files, ["plate"], _reader)

    assert [f["filename"] for f in kept] == ["a.jpg", "b.jpg"]
    assert kept[0]["annotations"][0]["box"] == {"xmin": 100, "ymin": 10, "xmax": 120, "ymax": 30}
    assert len(kept[1]["annotations"]) == 1
    assert report["annotations_clipped"] == 1
    assert (report["files_in"], report["files_used"]) == (7, 2)
    reasons = {e["filename"]: e["reason"] for e in report["excluded_files"]}
    assert reasons["c.jpg"] == reasons["d.jpg"] == reasons["f.jpg"] == "no usable annotations"
    assert reasons["x.jpg"].startswith("unreadable: cannot identify")
    assert reasons["e.jpg"] == "exact duplicate of a.jpg"
    why = {(e["filename"], e["reason"].split(" ")[0]) for e in report["excluded_annotations"]}
    assert why == {("b.jpg", "box"), ("c.jpg", "degenerate"), ("f.jpg", "label")}
    assert report["label_counts"] == {"plate": 2}
    assert "fewer than 3" in report["warnings"][0]


def test_near_duplicates_are_grouped_and_never_split_across_train_and_validation() -> None:
    assert (phash(PHOTOS["a"]) ^ phash(PHOTOS["b"])).bit_count() > 3 * NEAR_DUPLICATE_BITS
    files = [_file(n, [_ann(10, 10, 40, 30)]) for n in "abcdr"]
    kept, report = check(files, ["plate"], _reader)
    assert report["near_duplicate_groups"] == [["a.jpg", "r.jpg"]]
    assert kept[0]["group"] == kept[4]["group"] != kept[1]["group"]

    word = [OcrToken("AB12", Box(0, 0, 10, 10), 1.0)]
    pages = [LabelledPage(word, 120, 80, [], group=str(i)) for i in range(20)]
    pages[15] = LabelledPage(word, 120, 80, [], group="5")  # a copy of page 5
    for fold in range(10):
        train, val = split_pages(pages, 10, fold=fold, keys=group_keys(pages))
        assert (pages[5] in val) == (pages[15] in val), f"fold {fold} split a duplicate pair"


@pytest.mark.slow
def test_the_validation_report_is_stored_with_the_run_and_shown(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, model_id = trained_client
    [run] = client.get(f"/api/v1/models/{model_id}/runs").json()
    shown = client.get(f"/api/v1/runs/{run['id']}").json()
    assert shown["report"]["files_used"] == shown["report"]["files_in"] > 0
    assert "validation_report.json" in shown["artifacts"]


def test_each_content_is_read_once_under_its_first_name_and_reported_for_every_copy() -> None:
    read: list[str] = []

    def reader(f: dict[str, Any]) -> np.ndarray:
        read.append(f["filename"])
        return _reader(f)

    files = [
        _file("x", [_ann(10, 10, 40, 30)], blob="1" * 64),  # unreadable
        _file("a", [_ann(10, 10, 40, 30)], blob="1" * 64),  # its bytes again, another name
        _file("b", [_ann(10, 10, 40, 30)]),
        _file("c", [_ann(10, 10, 40, 30)], blob="b" * 64),  # the same bytes as "b"
    ]
    kept, report = check(files, ["plate"], reader)
    assert sorted(read) == ["b.jpg", "x.jpg"]
    assert [f["filename"] for f in kept] == ["b.jpg"]
    reasons = {e["filename"]: e["reason"] for e in report["excluded_files"]}
    assert reasons["x.jpg"] == reasons["a.jpg"] == "unreadable: cannot identify image file"
    assert reasons["c.jpg"] == "exact duplicate of b.jpg"
