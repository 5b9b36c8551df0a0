"""Inline SVG charts for the report page: plain markup, no scripts, every label escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#3f7fbf", "#2e6b3f", "#c0793a", "#8a4fa8", "#b8434b", "#4e9a9a", "#7a7a2e", "#555f6d", "#d19a00")
WIDTH = 900


def bars(rows: Sequence[tuple[str, float, str]], *, label: str, width: int = WIDTH) -> Markup:
    """Horizontal bars: (name, value, text shown after the bar)."""
    top = max((value for _, value, _ in rows), default=0) or 1
    height = 30 * len(rows) + 8
    parts = [f'<svg role="img" aria-label="{escape(label)}" width="100%" viewBox="0 0 {width} {height}">']
    for i, (name, value, text) in enumerate(rows):
        y = 30 * i + 4
        length = value / top * (width - 380)
        parts.append(
            f'<text x="0" y="{y + 17}">{escape(name)}</text>'
            f'<rect x="200" y="{y}" width="{length:.1f}" height="22" rx="3" fill="{PALETTE[0]}"></rect>'
            f'<text x="{206 + length:.1f}" y="{y + 17}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every label above went through escape()


def lines(
    series: dict[str, list[tuple[str, float]]],
    *,
    label: str,
    unit: str,
    width: int = WIDTH,
    height: int = 260,
) -> Markup:
    """Lines over shared x labels (periods); each series a list of (period, value)."""
    periods = sorted({p for points in series.values() for p, _ in points})
    if not periods:
        return Markup('<p class="muted">Nothing to chart yet.</p>')
    top = max((v for points in series.values() for _, v in points), default=0) or 1
    left, right, bottom, plot_top = 60, 160, 40, 10
    span_x = (width - left - right) / max(len(periods) - 1, 1)
    span_y = height - bottom - plot_top

    def x(period: str) -> float:
        return left + periods.index(period) * span_x

    def y(value: float) -> float:
        return plot_top + span_y * (1 - value / top)

    parts = [f'<svg role="img" aria-label="{escape(label)}" width="100%" viewBox="0 0 {width} {height}">']
    parts.append(
        f'<line x1="{left}" y1="{plot_top + span_y}" x2="{width - right}" y2="{plot_top + span_y}" '
        'stroke="#99a"/>'
    )
    parts.append(f'<text x="0" y="{plot_top + 10}">{top:g} {escape(unit)}</text>')
    step = max(1, len(periods) // 8)
    for i, period in enumerate(periods):
        if i % step == 0:
            parts.append(f'<text x="{x(period) - 20:.1f}" y="{height - 12}">{escape(period)}</text>')
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{x(p):.1f},{y(v):.1f}" for p, v in sorted(points))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for p, v in points:
            parts.append(
                f'<circle cx="{x(p):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(p)}: {v:g}</title></circle>"
            )
        parts.append(
            f'<rect x="{width - right + 10}" y="{plot_top + 16 * n + 3}" width="10" height="10" '
            f'fill="{colour}"/>'
            f'<text x="{width - right + 24}" y="{plot_top + 16 * n + 12}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every label above went through escape()
