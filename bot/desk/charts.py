"""Small server-side SVG charts for the Overview page: plain strings, no JavaScript, no library.

Hand-written rather than pygal: pygal took 54 ms and 122 KB to draw one 90-day stacked bar chart
(and wants a JavaScript file from a CDN for its tooltips); these take well under a millisecond.
Colours come from CSS classes (the page's stylesheet), so the strict CSP needs no inline styles.
Every text is escaped; hovering a bar shows its figure (an SVG ``<title>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    css: str  # a class in desk.css that sets the fill
    values: tuple[int, ...]


def _grid(left: float, width: float, top: float, plot_h: float, peak: float) -> list[str]:
    """Three horizontal grid lines (0, half, the peak) with their values on the y axis."""
    out = []
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac)}</text>'
        )
    return out


def _nice_max(value: float) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5, 10, 20, 50, ...)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def legend(series: Sequence[Series]) -> str:
    """An HTML legend (wraps on small screens, unlike text inside the SVG)."""
    items = "".join(
        f'<li><svg class="key" viewBox="0 0 10 10">'
        f'<rect class="{escape(s.css)}" width="10" height="10"/></svg>'
        f"{escape(s.label)}</li>"
        for s in series
    )
    return f'<ul class="legend">{items}</ul>'


def stacked_days(days: Sequence[str], series: Sequence[Series], label: str) -> str:
    """Stacked columns, one per day (``days`` as YYYY-MM-DD), with a y axis and a few date labels."""
    width, height, left, bottom, top = 640, 240, 46, 24, 8
    n = max(len(days), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    peak = _nice_max(max(totals, default=0))
    plot_h = height - bottom - top
    slot = (width - left) / n
    bar = max(slot * 0.8, 1.0)
    body = []
    body.extend(_grid(left, width, top, plot_h, peak))
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        base = float(top + plot_h)
        for s in series:
            v = s.values[i]
            if v <= 0:
                continue
            h = plot_h * v / peak
            base -= h
            body.append(
                f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{base:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(day)}: {v} {escape(s.label)}</title></rect>"
            )
    every = max(1, round(n / 6))
    for i in range(0, len(days), every):
        x = left + i * slot + slot / 2
        body.append(
            f'<text class="tick" x="{x:.1f}" y="{height - 6}" text-anchor="middle">'
            f"{escape(days[i][5:])}</text>"
        )
    return _svg(width, height, label, body)


def bars(rows: Sequence[tuple[str, int]], css: str, label: str) -> str:
    """Horizontal bars, each with its label on the line above (readable on a phone)."""
    width, row_h = 400, 34
    if not rows:
        return '<p class="empty">Nothing yet.</p>'
    peak = max(v for _, v in rows) or 1
    body = []
    for i, (name, value) in enumerate(rows):
        y = i * row_h
        w = max((width - 50) * value / peak, 1.5)
        body.append(f'<text class="lbl" x="0" y="{y + 12}">{escape(name)}</text>')
        body.append(
            f'<rect class="{escape(css)}" x="0" y="{y + 16}" width="{w:.1f}" height="12">'
            f"<title>{escape(name)}: {value}</title></rect>"
        )
        body.append(f'<text class="val" x="{w + 4:.1f}" y="{y + 26}">{value}</text>')
    return _svg(width, row_h * len(rows), label, body)


def votes(rows: Sequence[tuple[str, int, int]], label: str) -> str:
    """👍 to the right and 👎 to the left of a centre line, one entry a row."""
    width, row_h = 400, 34
    if not rows:
        return '<p class="empty">No feedback yet.</p>'
    peak = max(max(up, down) for _, up, down in rows) or 1
    mid, half = width / 2, width / 2 - 30
    body = [f'<line class="axis" x1="{mid}" y1="14" x2="{mid}" y2="{row_h * len(rows)}"/>']
    for i, (name, up, down) in enumerate(rows):
        y = i * row_h
        wu, wd = half * up / peak, half * down / peak
        body.append(f'<text class="lbl" x="0" y="{y + 12}">{escape(name)}</text>')
        body.append(
            f'<rect class="s-up" x="{mid:.1f}" y="{y + 16}" width="{wu:.1f}" height="12">'
            f"<title>{escape(name)}: {up} helpful</title></rect>"
        )
        body.append(
            f'<rect class="s-down" x="{mid - wd:.1f}" y="{y + 16}" width="{wd:.1f}" height="12">'
            f"<title>{escape(name)}: {down} not helpful</title></rect>"
        )
        body.append(f'<text class="val" x="{mid + wu + 4:.1f}" y="{y + 26}">{up}</text>')
        body.append(f'<text class="val" x="{mid - wd - 4:.1f}" y="{y + 26}" text-anchor="end">{down}</text>')
    return _svg(width, row_h * len(rows), label, body)


def line(days: Sequence[str], values: Sequence[int], css: str, label: str) -> str:
    """A filled line over days (the queue's size at the end of each day)."""
    width, height, left, bottom, top = 640, 160, 46, 24, 8
    n = len(days)
    if n == 0:
        return '<p class="empty">Nothing yet.</p>'
    peak = _nice_max(max(values, default=0))
    plot_h = height - bottom - top
    step = (width - left) / max(n - 1, 1)
    points = [(left + i * step, top + plot_h * (1 - v / peak)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    base = top + plot_h
    body = []
    body.extend(_grid(left, width, top, plot_h, peak))
    body.append(
        f'<polygon class="{escape(css)} area" points="{left},{base} {path} {points[-1][0]:.1f},{base}"/>'
    )
    body.append(f'<polyline class="{escape(css)} stroke" points="{path}"/>')
    for (x, y), day, v in zip(points, days, values, strict=True):
        body.append(
            f'<circle class="{escape(css)} dot" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(day)}: {v}</title></circle>"
        )
    every = max(1, round(n / 6))
    for i in range(0, n, every):
        body.append(
            f'<text class="tick" x="{points[i][0]:.1f}" y="{height - 6}" text-anchor="middle">'
            f"{escape(days[i][5:])}</text>"
        )
    return _svg(width, height, label, body)
