"""Reading annotated folders people already have: Nanonets JSON, Pascal VOC XML and COCO.

Each reader yields (file, v2-style objects) pairs, so every format goes through the same
validation as an API upload.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docloop.errors import InvalidInput
from docloop.ml.io import EXTENSIONS

IMAGE_EXTS = {e for exts in EXTENSIONS.values() for e in exts}
FORMATS = ("nanonets", "voc", "coco")

Item = tuple[Path, list[dict[str, Any]]]


def detect(folder: Path) -> str:
    if (folder / "annotations").is_dir() and any((folder / "annotations").glob("*.json")):
        return "nanonets"
    if any(folder.rglob("*.xml")):
        return "voc"
    if any(_coco_files(folder)):
        return "coco"
    raise InvalidInput(f"{folder}: no annotations/*.json, VOC *.xml or COCO JSON found")


def read(folder: Path, fmt: str | None = None) -> list[Item]:
    fmt = fmt or detect(folder)
    readers = {"nanonets": _nanonets, "voc": _voc, "coco": _coco}
    if fmt not in readers:
        raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return sorted(readers[fmt](folder), key=lambda item: item[0].name)


def _images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS}


def _nanonets(folder: Path) -> Iterator[Item]:
    images = _images(folder)
    for ann in sorted((folder / "annotations").glob("*.json")):
        image = images.get(ann.stem)
        if image is None:
            continue
        data = json.loads(ann.read_text())
        if isinstance(data, list) and data and isinstance(data[0], dict) and "object" in data[0]:
            data = data[0]["object"]
        yield image, [o for o in data if o.get("bndbox") or o.get("ocr_text")]


def _voc(folder: Path) -> Iterator[Item]:
    images = _images(folder)
    for xml in sorted(folder.rglob("*.xml")):
        root = ET.parse(xml).getroot()
        name = root.findtext("filename") or xml.stem
        image = images.get(Path(name).stem)
        if image is None:
            continue
        objects = []
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            item: dict[str, Any] = {"name": obj.findtext("name")}
            if box is not None:
                item["bndbox"] = {
                    k: float(box.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")
                }
            text = obj.findtext("ocr_text") or obj.findtext("text")
            if text:
                item["ocr_text"] = text
            objects.append(item)
        yield image, objects


def _coco_files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*.json"):
        try:
            head = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(head, dict) and {"images", "annotations", "categories"} <= head.keys():
            yield path


def _coco(folder: Path) -> Iterator[Item]:
    images = _images(folder)
    for path in _coco_files(folder):
        data = json.loads(path.read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        by_image: dict[int, list[dict[str, Any]]] = {}
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            item = {
                "name": names[a["category_id"]],
                "bndbox": {"xmin": x, "ymin": y, "xmax": x + w, "ymax": y + h},
            }
            text = a.get("ocr_text") or a.get("text") or (a.get("attributes") or {}).get("text")
            if text:
                item["ocr_text"] = text
            by_image.setdefault(a["image_id"], []).append(item)
        for img in data["images"]:
            image = images.get(Path(img["file_name"]).stem)
            if image is not None:
                yield image, by_image.get(img["id"], [])


def transcription_for(folder: Path, image: Path) -> list[dict[str, Any]] | None:
    """The image's full-page transcription, when the folder has one: ``lines/<name>.tsv``."""
    path = folder / "lines" / f"{image.stem}.tsv"
    return read_lines_tsv(path) if path.is_file() else None


def read_lines_tsv(path: Path) -> list[dict[str, Any]]:
    """SROIE's line files: a header, then four corners (x1 y1 ... x4 y4) and the text, by tabs.
    Each line's box is the rectangle around its corners."""
    out = []
    rows = path.read_text(encoding="utf-8").splitlines()
    for n, row in enumerate(rows[1:], start=2):
        cols = row.split("\t")
        if len(cols) < 9:
            raise InvalidInput(f"{path}: line {n} has {len(cols)} columns, not 9")
        try:
            xy = [float(c) for c in cols[:8]]
        except ValueError:
            raise InvalidInput(f"{path}: line {n} has a corner that is not a number") from None
        xs, ys = xy[0::2], xy[1::2]
        box = {"xmin": min(xs), "ymin": min(ys), "xmax": max(xs), "ymax": max(ys)}
        out.append({"text": "\t".join(cols[8:]), "bndbox": box})
    return out
