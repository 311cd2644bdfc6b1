"""Text line images for recognizer training, drawn with the machine's TrueType fonts.

Grey images ``HEIGHT`` pixels high, as the PP-OCR recognizer reads its crops, in two families:

- plate-like: dark characters on a light plate inside a box border, on one row ("plate") or
  two ("plate2", the text cut where a letter run meets a digit run nearest its middle, or at
  its middle space);
- receipt-like: thermal-print grey on off-white paper with no border ("receipt").

Fonts are whatever the system has (``fc-list``, else the usual font folders); the trainer
image installs Debian's DejaVu and Liberation packages. PIL and numpy only.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HEIGHT = 48
STYLES = ("plate", "plate2", "receipt")
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
DRAW_SIZE = 64  # font pixels a row is drawn at before the image is scaled to HEIGHT
SLANTED = re.compile("italic|oblique", re.IGNORECASE)
ROW_BREAK = "\n"  # between a two-row plate's rows in the text returned with its image


class NoFonts(RuntimeError):
    """No TrueType or OpenType font on this machine: nothing to draw text with."""


@functools.cache
def font_files() -> tuple[Path, ...]:
    """Every .ttf/.otf font the system lists (``fc-list``), or finds in its font folders."""
    found: set[Path] = set()
    if shutil.which("fc-list"):
        listed = subprocess.run(
            ["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, check=False
        ).stdout
        found = {Path(line) for line in listed.splitlines() if line.strip()}
    if not found:
        found = {p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*") if p.is_file()}
    fonts = tuple(sorted(p for p in found if p.suffix.lower() in {".ttf", ".otf"}))
    if not fonts:
        raise NoFonts(
            "no TrueType/OpenType fonts found (fc-list, /usr/share/fonts); install some, "
            "e.g. apt-get install fonts-dejavu-core fonts-liberation"
        )
    return fonts


def render_lines(
    texts: Sequence[str], rng: np.random.Generator, style: str | None = None
) -> list[tuple[np.ndarray, str]]:
    """Each text drawn as a grey uint8 image ``HEIGHT`` high, with the text it shows.

    ``style`` is one of ``STYLES``, or None for a style drawn per text (two rows only for texts
    of at least four characters). A two-row image's text holds its rows top first, joined by
    ``ROW_BREAK``; a recognizer that reads one line cuts it there."""
    if style is not None and style not in STYLES:
        raise ValueError(f"unknown style {style!r}; one of {', '.join(STYLES)}")
    fonts = font_files()
    upright = tuple(f for f in fonts if not SLANTED.search(f.name)) or fonts
    out = []
    for text in texts:
        chosen = style or _any_style(text, rng)
        # Plates are stamped upright; receipts print in any face.
        faces = fonts if chosen == "receipt" else upright
        font = _font(faces[int(rng.integers(len(faces)))])
        if chosen == "receipt":
            out.append((_receipt(text, font, rng), text))
        else:
            rows = _rows(text) if chosen == "plate2" else [text]
            out.append((_plate(rows, font, rng), ROW_BREAK.join(rows)))
    return out


@functools.cache
def _font(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), DRAW_SIZE)


def _any_style(text: str, rng: np.random.Generator) -> str:
    styles = STYLES if len(text.replace(" ", "")) >= 4 else ("plate", "receipt")
    return styles[int(rng.integers(len(styles)))]


def _rows(text: str) -> list[str]:
    """Two rows: at the space nearest the middle, else where letters and digits meet nearest
    the middle ("MH13" over "BN4348"), else at the middle."""
    text = text.strip()
    middle = len(text) / 2
    spaces = [i for i, c in enumerate(text) if c == " "]
    turns = [i for i in range(1, len(text)) if text[i - 1].isdigit() != text[i].isdigit()]
    cuts = spaces or turns or [max(1, len(text) // 2)]
    at = min(cuts, key=lambda i: abs(i - middle))
    return [text[:at].strip(), text[at:].strip()]


def _text_layer(
    rows: Sequence[str], font: ImageFont.FreeTypeFont, ink: int, paper: int
) -> Image.Image:
    """The rows centred one under the other on a tight canvas of ``paper`` grey."""
    boxes = [font.getbbox(r or " ") for r in rows]
    width = max(b[2] - b[0] for b in boxes)
    line = DRAW_SIZE + DRAW_SIZE // 8
    image = Image.new("L", (max(width, 1), line * len(rows)), paper)
    draw = ImageDraw.Draw(image)
    for n, (row, box) in enumerate(zip(rows, boxes, strict=True)):
        x = (width - (box[2] - box[0])) / 2 - box[0]
        draw.text((x, n * line), row, font=font, fill=ink)
    return image


def _plate(
    rows: Sequence[str], font: ImageFont.FreeTypeFont, rng: np.random.Generator
) -> np.ndarray:
    """Dark on light, padded, inside a border a few pixels thick."""
    ink, paper = int(rng.integers(0, 70)), int(rng.integers(180, 256))
    text = _text_layer(rows, font, ink, paper)
    pad = int(DRAW_SIZE * rng.uniform(0.15, 0.4))
    border = int(rng.integers(2, 7))
    image = Image.new("L", (text.width + 2 * pad, text.height + 2 * pad), paper)
    image.paste(text, (pad, pad))
    ImageDraw.Draw(image).rectangle(
        (border // 2, border // 2, image.width - 1 - border // 2, image.height - 1 - border // 2),
        outline=ink,
        width=border,
    )
    return _finish(image, rng)


def _receipt(text: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> np.ndarray:
    """Grey print on off-white paper with a little margin."""
    ink, paper = int(rng.integers(20, 110)), int(rng.integers(215, 256))
    layer = _text_layer([text], font, ink, paper)
    margin = int(DRAW_SIZE * rng.uniform(0.05, 0.25))
    image = Image.new("L", (layer.width + 2 * margin, layer.height + margin), paper)
    image.paste(layer, (margin, margin // 2))
    return _finish(image, rng)


def _finish(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Softened a little, scaled to ``HEIGHT`` with the aspect kept, with sensor noise."""
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 1.5))))
    width = max(1, round(image.width * HEIGHT / image.height))
    pixels = np.asarray(image.resize((width, HEIGHT), Image.Resampling.BILINEAR), dtype=float)
    pixels += rng.normal(0.0, rng.uniform(0.0, 8.0), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)
