"""OCR of stored files, cached by (content hash, engine): each file is read at most once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from docloop.db.tables import OcrResult
from docloop.domain import Box, Lattice, OcrToken, as_quad
from docloop.ml.io import Page, decode
from docloop.services.context import AppContext, ocr_profile

PageLines = list[OcrToken]


def lines_to_json(lines: list[OcrToken]) -> list[list[object]]:
    """A page's OCR lines as the cache stores them (JSON)."""
    return [
        [t.text, t.box.xmin, t.box.ymin, t.box.xmax, t.box.ymax, t.score, t.lattice, t.quad]
        for t in lines
    ]


def lines_from_json(rows: list[list[Any]]) -> list[OcrToken]:
    """The cached lines; lines cached before lattices or quadrilaterals were kept have none."""
    return [
        OcrToken(
            str(r[0]),
            Box(float(r[1]), float(r[2]), float(r[3]), float(r[4])),
            float(r[5]),
            i,
            _lattice(r[6]) if len(r) > 6 and r[6] else None,
            as_quad(r[7]) if len(r) > 7 and r[7] else None,
        )
        for i, r in enumerate(rows)
    ]


def _lattice(steps: list[list[list[Any]]]) -> Lattice:
    return tuple(tuple((str(c), float(p)) for c, p in step) for step in steps)


def cached(ctx: AppContext, blob_hash: str) -> list[PageLines] | None:
    with ctx.session() as s:
        row = s.scalar(
            select(OcrResult.pages).where(
                OcrResult.blob_hash == blob_hash, OcrResult.engine == ctx.ocr.name
            )
        )
    return None if row is None else [lines_from_json(p) for p in row]


def read_pages(ctx: AppContext, blob_hash: str, pages: list[Page]) -> list[PageLines]:
    """OCR lines for each page of an already decoded file, from the cache when possible."""
    hit = cached(ctx, blob_hash)
    if hit is not None:
        return hit
    result = []
    for p in pages:
        with ctx.metrics.ocr_seconds.time():
            result.append(ctx.ocr.read(p.image))
    try:
        with ctx.session() as s:
            s.add(
                OcrResult(
                    blob_hash=blob_hash,
                    engine=ctx.ocr.name,
                    pages=[lines_to_json(r) for r in result],
                )
            )
    except IntegrityError:
        pass  # another worker stored the same result first
    return result


def read_blob(ctx: AppContext, blob_hash: str, filename: str) -> list[PageLines]:
    hit = cached(ctx, blob_hash)
    if hit is not None:
        return hit
    _, pages = decode(ctx.blobs.get(blob_hash), filename, max_pages=ctx.settings.max_pages)
    return read_pages(ctx, blob_hash, pages)


def read_blobs(
    ctx: AppContext,
    blobs: Sequence[tuple[str, str]],
    on_done: Callable[[int, int], None] | None = None,
) -> list[list[PageLines]]:
    """``read_blob`` for many (hash, filename) pairs, in order, using every OCR engine at once."""
    threads = min(ocr_profile(ctx.settings).pool_size, max(1, len(blobs)))
    out: list[list[PageLines]] = [[] for _ in blobs]
    with ThreadPoolExecutor(threads, thread_name_prefix="ocr") as pool:
        futures = {pool.submit(read_blob, ctx, h, name): i for i, (h, name) in enumerate(blobs)}
        try:
            for n, future in enumerate(as_completed(futures), 1):
                out[futures[future]] = future.result()
                if on_done:
                    on_done(n, len(blobs))
        except BaseException:  # a stopping training (``on_done`` raised): read no more pages
            pool.shutdown(cancel_futures=True)
            raise
    return out
