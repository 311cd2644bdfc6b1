"""Checks and cleaning before every training, with a report that says what was dropped and why.

A model trained on broken data fails quietly, so nothing is dropped silently: each excluded file
and annotation is listed with its reason, and the report is stored with the training run.
Near-duplicate images are not dropped (they are real training data) but grouped, so the splitter
never puts one copy in training and another in validation, which would flatter the figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from docloop.cpu_share import usable_cores
from docloop.services.context import AppContext

# A box keeps its clipped part when at least this share of it lies on the page.
MIN_INSIDE_SHARE = 0.5
# Boxes thinner than this (pixels) cannot frame any text.
MIN_BOX_SIDE = 2.0
HASH_SIDE, HASH_FREQS = 64, 16
_DCT = np.cos(
    np.pi
    * (2 * np.arange(HASH_SIDE)[None, :] + 1)
    * np.arange(HASH_SIDE)[:, None]
    / (2 * HASH_SIDE)
)
# Perceptual hashes this close (of 255 bits) are the same picture. Measured on plates and receipts:
# re-uploads of a plate photo differ by 0-2 bits; distinct receipts by 8 or more, plates by 68.
NEAR_DUPLICATE_BITS = 5
# Fewer examples than this and a label cannot be learned or measured.
MIN_LABEL_EXAMPLES = 3

FileDict = dict[str, Any]
ImageReader = Callable[[FileDict], np.ndarray]


def phash(image: np.ndarray) -> int:
    """Perceptual hash: the signs of the 255 lowest 2-D cosine frequencies of a 64x64 thumbnail
    against their median. Survives re-encoding and resizing (what an accidental re-upload does);
    unlike an 8x8 difference hash it still tells apart two white pages of black text."""
    thumb = Image.fromarray(image).convert("L").resize((HASH_SIDE, HASH_SIDE), Image.LANCZOS)
    low = (_DCT @ np.asarray(thumb, dtype=np.float64) @ _DCT.T)[:HASH_FREQS, :HASH_FREQS]
    coeffs = low.flatten()[1:]  # the first is the mean brightness
    return int("".join("1" if c else "0" for c in coeffs > np.median(coeffs)), 2)


def check(
    files: Sequence[FileDict], labels: Sequence[str], read_image: ImageReader
) -> tuple[list[FileDict], dict[str, Any]]:
    """The files fit to train on (annotations cleaned, each with a ``group``) and the report.

    ``read_image`` returns a file's first page as an RGB array, or raises if it cannot be read."""
    excluded_files: list[dict[str, str]] = []
    excluded_anns: list[dict[str, Any]] = []
    clipped = 0
    kept: list[FileDict] = []
    hashes: list[int] = []
    first_of_blob: dict[str, str] = {}
    looks = _looks(files, read_image)
    for f in files:
        name = f["filename"]
        if f["blob_hash"] in first_of_blob:
            excluded_files.append(_why(f, f"exact duplicate of {first_of_blob[f['blob_hash']]}"))
            continue
        look = looks[f["blob_hash"]]
        if isinstance(look, str):
            excluded_files.append(_why(f, f"unreadable: {look}"))
            continue
        first_of_blob[f["blob_hash"]] = name
        anns = []
        for a in f["annotations"]:
            cleaned, reason = _clean_annotation(a, f["pages"], labels)
            if cleaned is None:
                excluded_anns.append({"filename": name, "label": a.get("label"), "reason": reason})
                continue
            clipped += reason == "clipped"
            anns.append(cleaned)
        if not anns:
            excluded_files.append(_why(f, "no usable annotations"))
            continue
        kept.append({**f, "annotations": anns})
        hashes.append(look)
    groups = near_duplicate_groups(hashes)
    for f, g in zip(kept, groups, strict=True):
        f["group"] = kept[g]["blob_hash"]
    counts = Counter(a["label"] for f in kept for a in f["annotations"])
    few = [k for k in labels if counts.get(k, 0) < MIN_LABEL_EXAMPLES]
    dup_groups = Counter(groups)
    report = {
        "files_in": len(files),
        "files_used": len(kept),
        "annotations_in": sum(len(f["annotations"]) for f in files),
        "annotations_used": sum(counts.values()),
        "annotations_clipped": clipped,
        "label_counts": {k: counts.get(k, 0) for k in labels},
        "excluded_files": excluded_files,
        "excluded_annotations": excluded_anns,
        "near_duplicate_groups": [
            [f["filename"] for f, g in zip(kept, groups, strict=True) if g == lead]
            for lead, n in sorted(dup_groups.items())
            if n > 1
        ],
        "warnings": [
            f"label {k!r} has {counts.get(k, 0)} examples (fewer than {MIN_LABEL_EXAMPLES}): "
            "its predictions and figures will be unreliable"
            for k in few
        ],
    }
    return kept, report


def _looks(files: Sequence[FileDict], read_image: ImageReader) -> dict[str, int | str]:
    """Each stored file's perceptual hash, or why it cannot be read, by content hash: read once
    per content, on as many threads as the process has cores (decoding releases the GIL, and a
    training waits for this step with its cores idle)."""
    firsts: dict[str, FileDict] = {}
    for f in files:
        firsts.setdefault(f["blob_hash"], f)  # read under its first name, as reported

    def look(f: FileDict) -> int | str:
        try:
            return phash(read_image(f))
        except Exception as exc:  # any decoder error means the same thing here
            return str(exc)

    with ThreadPoolExecutor(usable_cores(), thread_name_prefix="validate") as pool:
        return dict(zip(firsts, pool.map(look, firsts.values()), strict=True))


def _why(f: FileDict, reason: str) -> dict[str, str]:
    return {"filename": f["filename"], "blob_hash": f["blob_hash"], "reason": reason}


def _clean_annotation(
    a: dict[str, Any], pages: list[dict[str, int]], labels: Sequence[str]
) -> tuple[dict[str, Any] | None, str]:
    """The annotation as it can be used (clipped to the page if needed), or None and why not."""
    if a.get("label") not in labels:
        return None, f"label {a.get('label')!r} is not one of the model's labels"
    page = a.get("page", 0)
    if not 0 <= page < len(pages):
        return None, f"page {page} does not exist in this file"
    b = a.get("box")
    if b is None:
        return (a, "") if a.get("text") else (None, "neither a box nor a text")
    w, h = pages[page]["width"], pages[page]["height"]
    if b["xmax"] - b["xmin"] < MIN_BOX_SIDE or b["ymax"] - b["ymin"] < MIN_BOX_SIDE:
        return None, "degenerate box (empty, inverted or under 2 pixels wide)"
    inside = {
        "xmin": max(0, b["xmin"]),
        "ymin": max(0, b["ymin"]),
        "xmax": min(w, b["xmax"]),
        "ymax": min(h, b["ymax"]),
    }
    if inside == b:
        return a, ""
    area = (b["xmax"] - b["xmin"]) * (b["ymax"] - b["ymin"])
    kept = max(0, inside["xmax"] - inside["xmin"]) * max(0, inside["ymax"] - inside["ymin"])
    if kept < MIN_INSIDE_SHARE * area:
        return None, f"box mostly outside the {w}x{h} page ({kept / area:.0%} inside)"
    return {**a, "box": inside}, "clipped"


def near_duplicate_groups(hashes: list[int]) -> list[int]:
    """For each image, the index of the first image of its near-duplicate group."""
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(hashes)):
        for j in range(i):
            if (hashes[i] ^ hashes[j]).bit_count() <= NEAR_DUPLICATE_BITS:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(len(hashes))]


def stored_image_reader(ctx: AppContext) -> ImageReader:
    """Reads a stored file's first page, checking the bytes still match their content hash."""
    from docloop.ml.io import decode
    from docloop.storage.base import content_hash

    def read(f: FileDict) -> np.ndarray:
        data = ctx.blobs.get(f["blob_hash"])
        if content_hash(data) != f["blob_hash"]:
            raise ValueError("stored bytes no longer match their content hash (damaged storage)")
        _, pages = decode(data, f["filename"], max_pages=ctx.settings.max_pages)
        return pages[0].image

    return read
