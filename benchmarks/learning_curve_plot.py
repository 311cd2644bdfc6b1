"""The learning curve's table (Markdown, printed) and plot (PNG) from ``learning_curve.py``'s rows.

One panel per dataset: text F1 (micro over labels) against the number of training files, on a
log scale, without synthetic pages (solid) and with them (dashed); plates also show AP50. Each
point is the mean over the subsets drawn of that size, its vertical bar their range.
Drawn with PIL, which the project already needs.

    python benchmarks/learning_curve_plot.py plates.jsonl receipts.jsonl \\
        --png docs/img/learning_curve.png
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from docloop.ml.synthetic.line_images import font_files

WIDTH, HEIGHT, MARGIN = 520, 380, 56
COLOURS = {"micro_text_f1": (31, 90, 180), "mean_ap50": (200, 90, 20)}
NAMES = {"micro_text_f1": "text F1", "mean_ap50": "AP50"}


def table(rows: list[dict[str, Any]]) -> str:
    """One Markdown table per dataset: a row per size, both runs side by side, each figure the
    mean over the subsets drawn (text F1 with its range when there are several)."""
    out = []
    for data in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == data]
        labels = sorted(mine[0]["per_label"])
        metrics = ["mean_ap50", "micro_text_f1"] + [f"label:{k}" for k in labels]
        if len(labels) == 1:
            metrics = metrics[:2]
        heads = [NAMES.get(m, m.removeprefix("label:")) for m in metrics]
        out.append(f"**{data}** (without / with synthetic pages)\n")
        out.append("| files | subsets | " + " | ".join(heads) + " | train s |")
        out.append("|---" * (len(heads) + 3) + "|")
        for files in sorted({r["files"] for r in mine}):
            runs = [
                [r for r in mine if r["files"] == files and r["synthetic"] == share]
                for share in sorted({r["synthetic"] for r in mine})
            ]
            cells = [
                " / ".join(_cell([_value(r, m) for r in run], m == "micro_text_f1") for run in runs)
                for m in metrics
            ]
            secs = " / ".join(
                str(round(statistics.mean(r["train_s"] for r in run))) if run else "-"
                for run in runs
            )
            out.append(f"| {files} | {len(runs[0])} | " + " | ".join(cells) + f" | {secs} |")
        out.append("")
    return "\n".join(out)


def _cell(values: list[float | None], spread: bool) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    text = f"{statistics.mean(known):.3f}"
    if spread and len(known) > 1:
        text += f" ({min(known):.2f}-{max(known):.2f})"
    return text


def _value(row: dict[str, Any], metric: str) -> float | None:
    if metric.startswith("label:"):
        return row["per_label"][metric.removeprefix("label:")]
    return row[metric]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    image = Image.new("RGB", (WIDTH * len(datasets), HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(_sans()), 13)
    for n, data in enumerate(datasets):
        _panel(draw, font, n * WIDTH, data, [r for r in rows if r["data"] == data])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _sans() -> Path:
    fonts = font_files()
    return next((f for f in fonts if f.name == "DejaVuSans.ttf"), fonts[0])


def _panel(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    left: int,
    data: str,
    rows: list[dict[str, Any]],
) -> None:
    sizes = sorted({r["files"] for r in rows})
    low, high = math.log(sizes[0]), math.log(max(sizes[-1], sizes[0] + 1))
    x0, x1, y0, y1 = left + MARGIN, left + WIDTH - 20, HEIGHT - MARGIN, 36

    def x(files: int) -> float:
        return x0 + (x1 - x0) * (math.log(files) - low) / (high - low)

    def y(value: float) -> float:
        return y0 - (y0 - y1) * value

    draw.text((x0, 10), f"{data}: val figures against training files", fill="black", font=font)
    draw.line((x0, y0, x1, y0), fill="black")
    draw.line((x0, y0, x0, y1), fill="black")
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        draw.line((x0 - 4, y(tick), x1, y(tick)), fill=(225, 225, 225))
        draw.text((x0 - 34, y(tick) - 7), f"{tick:.1f}", fill="black", font=font)
    for files in sizes:
        draw.text((x(files) - 10, y0 + 6), str(files), fill="black", font=font)
    draw.text((x0 + (x1 - x0) / 2 - 40, y0 + 24), "training files (log)", fill="black", font=font)
    metrics = (
        ["micro_text_f1", "mean_ap50"] if len(rows[0]["per_label"]) == 1 else ["micro_text_f1"]
    )
    legend = y(0.32)
    for metric in metrics:
        for share in sorted({r["synthetic"] for r in rows}):
            points = []
            for files in sizes:
                values = [
                    r[metric]
                    for r in rows
                    if r["files"] == files and r["synthetic"] == share and r[metric] is not None
                ]
                if values:
                    px = x(files) + (3 if share else -3)
                    points.append((px, y(statistics.mean(values))))
                    draw.line((px, y(min(values)), px, y(max(values))), fill=COLOURS[metric])
            _line(draw, points, COLOURS[metric], dashed=share > 0)
            for px, py in points:
                draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=COLOURS[metric])
            name = f"{NAMES[metric]}, " + (f"synthetic {share:g}" if share else "no synthetic")
            _line(
                draw, [(x1 - 170, legend + 7), (x1 - 140, legend + 7)], COLOURS[metric], share > 0
            )
            draw.text((x1 - 134, legend), name, fill="black", font=font)
            legend += 16


def _line(
    draw: ImageDraw.ImageDraw,
    points: list[tuple[float, float]],
    colour: tuple[int, int, int],
    dashed: bool,
) -> None:
    for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
        if not dashed:
            draw.line((ax, ay, bx, by), fill=colour, width=2)
            continue
        steps = max(1, int(math.hypot(bx - ax, by - ay) / 6))
        for k in range(0, steps, 2):
            t0, t1 = k / steps, min(k + 1, steps) / steps
            segment = (
                ax + (bx - ax) * t0,
                ay + (by - ay) * t0,
                ax + (bx - ax) * t1,
                ay + (by - ay) * t1,
            )
            draw.line(segment, fill=colour, width=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=Path, nargs="+", help="learning_curve.py's --rows files")
    ap.add_argument("--png", type=Path, required=True)
    args = ap.parse_args()
    rows = [json.loads(line) for path in args.rows for line in path.read_text().splitlines()]
    print(table(rows))
    plot(rows, args.png)


if __name__ == "__main__":
    main()
