"""Bytes -> page images. Sniffs the real type, so a file is judged by its content, not its name."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
from PIL import Image, ImageSequence

from docloop.errors import InvalidInput, UnsupportedMedia

# 72 dpi PDF points to ~144 dpi pixels: small print stays readable for the OCR engine.
PDF_SCALE = 2.0

EXTENSIONS = {
    "jpeg": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "png": {".png"},
    "tiff": {".tif", ".tiff"},
    "webp": {".webp"},
    "gif": {".gif"},
    "bmp": {".bmp"},
    "pdf": {".pdf"},
}
MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "tiff": "image/tiff",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "pdf": "application/pdf",
}


@dataclass(frozen=True, slots=True)
class Page:
    index: int
    image: np.ndarray  # H x W x 3, uint8 RGB

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def sniff(data: bytes) -> str | None:
    """The document kind the bytes start with, or None when it is not one we read."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM" and len(data) > 26:
        return "bmp"
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    return None


def check_kind(data: bytes, filename: str) -> str:
    """Return the sniffed kind; refuse empty files, unknown bytes, and PDFs named as images."""
    if not data:
        raise InvalidInput(f"file {filename!r} is empty")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMedia(
            f"file {filename!r} is not a JPEG, PNG, TIFF, WebP, GIF or BMP image or a PDF "
            "(checked its bytes)"
        )
    ext = PurePath(filename).suffix.lower()
    claimed = next((k for k, exts in EXTENSIONS.items() if ext in exts), None)
    # A PNG saved as .jpg is common and harmless (the bytes decide); a PDF posing as an image,
    # or the reverse, means the wrong file was picked.
    if claimed is not None and (claimed == "pdf") != (kind == "pdf"):
        raise UnsupportedMedia(f"file {filename!r} is named as {claimed} but its bytes are {kind}")
    return kind


def decode(data: bytes, filename: str, *, max_pages: int = 50) -> tuple[str, list[Page]]:
    """Decode a document into RGB pages; corrupt or truncated input raises ``InvalidInput``."""
    kind = check_kind(data, filename)
    pages = (
        _decode_pdf(data, filename, max_pages)
        if kind == "pdf"
        else _decode_image(data, filename, max_pages)
    )
    if not pages:
        raise InvalidInput(f"file {filename!r} has no pages")
    return MEDIA_TYPES[kind], pages


def _decode_image(data: bytes, filename: str, max_pages: int) -> list[Page]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            pages = []
            for i, frame in enumerate(ImageSequence.Iterator(img)):
                if i >= max_pages:
                    raise InvalidInput(f"file {filename!r} has more than {max_pages} pages")
                frame.load()
                pages.append(Page(i, np.asarray(frame.convert("RGB"))))
            return pages
    except InvalidInput:
        raise
    except Exception as exc:  # PIL raises many types for corrupt input
        raise InvalidInput(f"file {filename!r} is corrupt or truncated: {exc}") from None


def _decode_pdf(data: bytes, filename: str, max_pages: int) -> list[Page]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as exc:
        raise InvalidInput(f"file {filename!r} is not a readable PDF: {exc}") from None
    try:
        if len(pdf) > max_pages:
            raise InvalidInput(f"file {filename!r} has {len(pdf)} pages; the limit is {max_pages}")
        pages = []
        for i in range(len(pdf)):
            bitmap = pdf[i].render(scale=PDF_SCALE)
            pages.append(Page(i, np.asarray(bitmap.to_pil().convert("RGB"))))
        return pages
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"file {filename!r} is a damaged PDF: {exc}") from None
    finally:
        pdf.close()
