"""Pascal VOC, COCO and Nanonets folders import through the same validation as uploads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from docloop.services import importers
from tests.conftest import sample_items


def _copy_images(dst: Path, n: int) -> list[tuple[Path, list[dict]]]:
    (dst / "images").mkdir(parents=True)
    items = sample_items(n)
    for path, _ in items:
        shutil.copy(path, dst / "images" / path.name)
    return items


def test_voc(tmp_path: Path) -> None:
    items = _copy_images(tmp_path, 2)
    for path, objects in items:
        b = objects[0]["bndbox"]
        (tmp_path / f"{path.stem}.xml").write_text(
            f"<annotation><filename>{path.name}</filename><object><name>number_plate</name>"
            f"<bndbox><xmin>{b['xmin']}</xmin><ymin>{b['ymin']}</ymin><xmax>{b['xmax']}</xmax>"
            f"<ymax>{b['ymax']}</ymax></bndbox></object></annotation>"
        )
    got = importers.read(tmp_path)
    assert [p.name for p, _ in got] == sorted(p.name for p, _ in items)
    assert got[0][1][0]["name"] == "number_plate" and got[0][1][0]["bndbox"]["xmax"] > 0


def test_coco(tmp_path: Path) -> None:
    items = _copy_images(tmp_path, 2)
    coco = {"images": [], "annotations": [], "categories": [{"id": 7, "name": "number_plate"}]}
    for i, (path, objects) in enumerate(items):
        b = objects[0]["bndbox"]
        coco["images"].append({"id": i, "file_name": path.name})
        coco["annotations"].append(
            {
                "id": i,
                "image_id": i,
                "category_id": 7,
                "bbox": [b["xmin"], b["ymin"], b["xmax"] - b["xmin"], b["ymax"] - b["ymin"]],
            }
        )
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    got = dict(importers.read(tmp_path, "coco"))
    first = items[0][1][0]["bndbox"]
    assert got[tmp_path / "images" / items[0][0].name][0]["bndbox"]["xmax"] == first["xmax"]


def test_nanonets_folder(tmp_path: Path) -> None:
    items = _copy_images(tmp_path, 2)
    (tmp_path / "annotations").mkdir()
    for path, objects in items:
        (tmp_path / "annotations" / f"{path.stem}.json").write_text(json.dumps(objects))
    assert importers.detect(tmp_path) == "nanonets"
    assert len(importers.read(tmp_path)) == 2
