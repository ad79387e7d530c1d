"""A fault's evidence as a small server-rendered SVG bar plot (the plant page shows one per fault).

The evidence is a handful of named numbers whose unit is in the name (``measured_w``,
``expected_w``, ``loss_pct``, ``gap_min``...; docs/faults.md). Numbers of the same unit are
comparable, so each unit is one group of bars on its own scale: an outage shows measured against
expected power side by side, a battery inconsistency the residual energy. Each bar is labelled
with its name and value in the unit people read (W as kW from 1 kW on). A dozen rectangles do
not need a chart library: the SVG is written here, escaped, with a ``<title>`` and ``<desc>`` so
it reads as one image to assistive technology.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

#: Name suffixes and the unit each stands for, longest first (``_pct_per_year`` before ``_pct``).
UNITS: tuple[tuple[str, str], ...] = (
    ("_pct_per_year", "%/year"),
    ("_pct_per_month", "%/month"),
    ("_pct_per_day", "%/day"),
    ("_pct_of_capacity", "% of capacity"),
    ("_wh_per_day", "Wh/day"),
    ("_pct", "%"),
    ("_wh", "Wh"),
    ("_w", "W"),
    ("_min", "min"),
    ("_s", "s"),
    ("_deg", "°"),
)
#: Book-keeping numbers that are not evidence to look at (how long the rule waited).
HIDDEN = frozenset({"persisted_steps"})

WIDTH = 320  # [px]
ROW = 22  # [px] per bar
LABEL = 150  # [px] of text left of the bars
BAR_COLOURS = ("#0b5394", "#b45309", "#1b5e20", "#6b21a8")


def unit_of(name: str) -> tuple[str, str]:
    """``(label, unit)`` of an evidence name: ``measured_w`` -> ``("measured", "W")``; a name
    without a known suffix is a plain number (unit ``""``)."""
    for suffix, unit in UNITS:
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " "), unit
    return name.replace("_", " "), ""


def format_value(value: float, unit: str) -> str:
    """``value`` in ``unit`` as people read it: W from 1 kW on as kW, Wh as kWh."""
    if unit in ("W", "Wh") and abs(value) >= 1000:
        return f"{value / 1000:,.2f} k{unit}"
    if unit in ("W", "Wh"):
        return f"{value:,.0f} {unit}"
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return f"{text} {unit}".strip() if unit not in ("%", "°") else f"{text}{unit}"


def evidence_groups(evidence: Mapping[str, float]) -> list[tuple[str, list[tuple[str, float]]]]:
    """The evidence grouped by unit, in the order of first appearance; hidden names left out."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for name, value in evidence.items():
        if name in HIDDEN:
            continue
        label, unit = unit_of(name)
        groups.setdefault(unit, []).append((label, float(value)))
    return list(groups.items())


def evidence_svg(evidence: Mapping[str, float], title: str) -> str:
    """An SVG document: one labelled bar per evidence number, each unit on its own scale."""
    groups = evidence_groups(evidence)
    bars = sum(len(items) for _, items in groups)
    height = max(1, bars) * ROW + max(0, len(groups) - 1) * (ROW // 2) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="t d" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="t">{escape(title)}</title>',
    ]
    described: list[str] = []
    y = 4
    for g, (unit, items) in enumerate(groups):
        top = max((abs(v) for _, v in items), default=0.0) or 1.0
        colour = BAR_COLOURS[g % len(BAR_COLOURS)]
        for label, value in items:
            text = f"{label} {format_value(value, unit)}"
            described.append(text)
            width = (WIDTH - LABEL - 8) * abs(value) / top
            parts.append(
                f'<text x="0" y="{y + 14}" fill="#1a1a1a">{escape(text)}</text>'
                f'<rect x="{LABEL}" y="{y + 3}" width="{width:.1f}" height="{ROW - 8}" '
                f'fill="{colour}"/>'
                f'<line x1="{LABEL}" y1="{y + 1}" x2="{LABEL}" y2="{y + ROW - 3}" stroke="#555"/>'
            )
            y += ROW
        y += ROW // 2 if g < len(groups) - 1 else 0
    if not groups:
        parts.append(f'<text x="0" y="{ROW - 6}" fill="#555">no numbers recorded</text>')
    parts.insert(2, f'<desc id="d">{escape("; ".join(described) or "no numbers")}</desc>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["evidence_groups", "evidence_svg", "format_value", "unit_of"]
