"""Charts drawn on the server as SVG: no script, no charting library, nothing fetched from a CDN.

Each point carries its series, period and value as ``data-`` attributes and a ``<title>`` (the
browser's hover text), so the figures under a chart can be read and checked against the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 520, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 34
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: list[float | None]


def chart(
    figure: str,
    how: str,
    periods: list[str],
    series: list[Series],
    *,
    bars: bool = False,
    percent: bool = False,
) -> Markup:
    """An SVG line (or bar) chart of ``series`` over ``periods``; ``how`` is its hover text."""
    values = [v for s in series for v in s.values if v is not None]
    top = 1.0 if percent else _nice(max(values, default=0.0))
    least = min(values, default=0.0)
    low = -_nice(-least) if least < 0 else 0.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(periods), 1)

    def x(i: int) -> float:
        return LEFT + step * (i + 0.5)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - low) / ((top - low) or 1.0))

    parts = [
        f'<svg class="chart" data-figure="{escape(figure)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg"><title>{escape(how)}</title>'
    ]
    for frac in (0.0, 0.5, 1.0):
        v = low + (top - low) * frac
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{escape(_label(v, percent))}</text>"
        )
    every = max(1, len(periods) // 6)
    for i, p in enumerate(periods):
        if i % every == 0:
            parts.append(
                f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 12}" text-anchor="middle">'
                f"{escape(p[5:] if len(p) == 10 else p)}</text>"
            )
    width = step * 0.7 / max(len(series), 1)
    for n, s in enumerate(series):
        color = COLORS[n % len(COLORS)]
        if not bars:
            for run in _runs(s.values):
                points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                             f'points="{points}"/>')  # fmt: skip
        for i, v in enumerate(s.values):
            if v is None:
                continue
            hover = f"{s.name} {periods[i]}: {_label(v, percent)}"
            data = (f'class="point" data-series="{escape(s.name)}" data-period="{periods[i]}" '
                    f'data-value="{v}"')  # fmt: skip
            if bars:
                left = x(i) - step * 0.35 + width * n
                parts.append(
                    f'<rect {data} x="{left:.1f}" y="{min(y(v), y(0)):.1f}" width="{width:.1f}" '
                    f'height="{abs(y(0) - y(v)):.1f}" fill="{color}"><title>{escape(hover)}'
                    "</title></rect>"
                )
            else:
                parts.append(
                    f'<circle {data} cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                    f"<title>{escape(hover)}</title></circle>"
                )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{COLORS[n % len(COLORS)]}"></i>'
        f"{escape(s.name)}</span>"
        for n, s in enumerate(series)
    )
    return Markup("".join(parts) + (f'<div class="legend">{legend}</div>' if legend else ""))


def _runs(values: list[float | None]) -> list[list[tuple[int, float]]]:
    """Stretches of consecutive known values: a missing week breaks the line."""
    out: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            out.append([])
        else:
            out[-1].append((i, v))
    return [r for r in out if r]


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top``: 1, 2, 2.5 or 5 times a power of ten."""
    if top <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(top))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if top <= m * scale * (1 + 1e-9))


def _label(v: float, percent: bool) -> str:
    if percent:
        return f"{v:.0%}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")
