"""Inline SVG pictures rendered on the server: a line chart and a state-machine graph.

Both return markup strings (escaped here) that templates insert with `|safe`; they carry a
<title> and role="img" so screen readers get a description, and colours are never the only
signal (the graph writes each state's outcome in words too).
"""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ("#1f5fa8", "#c2410c", "#6d28d9", "#0f766e")
STATE_STYLE = {  # fill, stroke, text colour, label; fills are light so dark text keeps 4.5:1 contrast
    "succeeded": ("#d8f3dc", "#1b7f3b", "#0b3d1c", "succeeded"),
    "failed": ("#fde2e1", "#c81e1e", "#7a0c0c", "failed"),
    "running": ("#dbeafe", "#1d4ed8", "#102a6b", "running"),
    "caught": ("#fef3c7", "#b45309", "#5c2a02", "caught error"),
    "not_reached": ("#eef0f2", "#8a939c", "#3d444b", "not reached"),
    "definition": ("#f4f6f8", "#4b5563", "#1a1d21", ""),  # a state machine's graph, no execution
}


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    marker_x: float | None = None,
    y_range: tuple[float, float] = (0.0, 1.0),
) -> str:
    """A responsive line chart (viewBox scales to its container) with axes and a legend."""
    width, height, left, right, top, bottom = 640, 320, 48, 16, 16, 64
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    x_min, x_max = min(p[0] for p in points), max(p[0] for p in points)
    x_max = x_max if x_max > x_min else x_min + 1
    y_low, y_high = y_range

    def sx(x: float) -> float:
        return left + (x - x_min) / (x_max - x_min) * (width - left - right)

    def sy(y: float) -> float:
        return top + (1 - (y - y_low) / (y_high - y_low)) * (height - top - bottom)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title">'
        f'<title id="chart-title">{escape(title)}</title>'
    ]
    for i in range(6):  # horizontal grid and y labels
        y = y_low + (y_high - y_low) * i / 5
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" class="axis">{y:.1f}</text>')
    step = max(1, round((x_max - x_min) / 10))
    x = x_min
    while x <= x_max:
        parts.append(f'<text x="{sx(x):.1f}" y="{height - bottom + 16}" text-anchor="middle" class="axis">{x:g}</text>')
        x += step
    parts.append(
        f'<text x="{(left + width) / 2:.0f}" y="{height - bottom + 34}" text-anchor="middle" class="axis">epoch</text>'
    )
    if marker_x is not None:
        mx = sx(marker_x)
        parts.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{height - bottom}" class="marker"/>')
        right_half = mx > (left + width) / 2  # keep the label inside the plot
        parts.append(
            f'<text x="{mx - 4 if right_half else mx + 4:.1f}" y="{top + 12}" class="axis" '
            f'text-anchor="{"end" if right_half else "start"}">kept epoch {marker_x:g}</text>'
        )
    for index, (label, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py in values)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for px, py in values:
            parts.append(
                f'<circle cx="{sx(px):.1f}" cy="{sy(py):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(label)} epoch {px:g}: {py:.3f}</title></circle>"
            )
        lx = left + 190 * index  # the legend sits in a row under the axis
        parts.append(f'<rect x="{lx}" y="{height - 10}" width="16" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 22}" y="{height - 4}" class="legend">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _edges(states: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(from, to, kind) for every transition of an ASL definition (top level)."""
    edges: list[tuple[str, str, str]] = []
    for name, spec in states.items():
        if not isinstance(spec, dict):
            continue
        if isinstance(spec.get("Next"), str):
            edges.append((name, spec["Next"], "next"))
        if isinstance(spec.get("Default"), str):
            edges.append((name, spec["Default"], "next"))
        for choice in spec.get("Choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
                edges.append((name, choice["Next"], "next"))
        for catcher in spec.get("Catch") or []:
            if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
                edges.append((name, catcher["Next"], "catch"))
    return [e for e in edges if e[1] in states]


def _layers(definition: dict[str, Any]) -> list[list[str]]:
    """States in rows by their distance from StartAt (breadth first), unreachable ones last."""
    states: dict[str, Any] = definition.get("States") or {}
    start = definition.get("StartAt")
    depth: dict[str, int] = {}
    if start in states:
        depth[start] = 0
        queue = [start]
        edges = _edges(states)
        while queue:
            current = queue.pop(0)
            for src, dst, _ in edges:
                if src == current and dst not in depth:
                    depth[dst] = depth[current] + 1
                    queue.append(dst)
    rows: dict[int, list[str]] = {}
    extra = max(depth.values(), default=-1) + 1
    for name in states:
        rows.setdefault(depth.get(name, extra), []).append(name)
    return [rows[k] for k in sorted(rows)]


def state_graph(definition: dict[str, Any], outcomes: dict[str, str] | None, title: str) -> str:
    """The state machine as boxes and arrows, each state coloured by `outcomes[name]`
    (succeeded, failed, running, caught; anything else: not reached). `outcomes=None` draws
    the definition alone, with no execution's colours."""
    states: dict[str, Any] = definition.get("States") or {}
    if not states:
        return ""
    box_w, box_h, gap_x, gap_y, pad = 220, 54, 30, 46, 20
    layers = _layers(definition)
    widest = max(len(row) for row in layers)
    width = max(widest * box_w + (widest - 1) * gap_x + 2 * pad, box_w + 2 * pad)
    pill_h = 26
    first_y = pad + pill_h + gap_y
    height = first_y + len(layers) * (box_h + gap_y) + pill_h + pad
    pos: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(layers):
        row_w = len(row) * box_w + (len(row) - 1) * gap_x
        x0 = (width - row_w) / 2
        for c, name in enumerate(row):
            pos[name] = (x0 + c * (box_w + gap_x), first_y + r * (box_h + gap_y))
    cx = width / 2
    end_y = first_y + len(layers) * (box_h + gap_y)
    parts = [
        f'<svg class="graph" viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-labelledby="graph-title">'
        f'<title id="graph-title">{escape(title)}</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4b5563"/></marker></defs>',
        f'<rect x="{cx - 40:.1f}" y="{pad}" width="80" height="{pill_h}" rx="13" class="pill"/>'
        f'<text x="{cx:.1f}" y="{pad + 17}" text-anchor="middle" class="pill-text">Start</text>',
    ]
    start = definition.get("StartAt")
    if start in pos:
        sx, sy = pos[start]
        parts.append(_arrow(cx, pad + pill_h, sx + box_w / 2, sy, "next"))
    for src, dst, kind in _edges(states):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        parts.append(_arrow(x1 + box_w / 2, y1 + box_h, x2 + box_w / 2, y2, kind))
    for name, spec in states.items():
        if isinstance(spec, dict) and (spec.get("End") or spec.get("Type") in ("Succeed", "Fail")):
            x, y = pos[name]
            parts.append(_arrow(x + box_w / 2, y + box_h, cx, end_y, "next"))
    parts.append(
        f'<rect x="{cx - 40:.1f}" y="{end_y:.1f}" width="80" height="{pill_h}" rx="13" class="pill"/>'
        f'<text x="{cx:.1f}" y="{end_y + 17:.1f}" text-anchor="middle" class="pill-text">End</text>'
    )
    for name, (x, y) in pos.items():
        outcome = "definition" if outcomes is None else outcomes.get(name, "not_reached")
        fill, stroke, ink, label = STATE_STYLE.get(outcome, STATE_STYLE["not_reached"])
        kind = states[name].get("Type", "") if isinstance(states[name], dict) else ""
        shown = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<g class="state state-{escape(outcome)}" data-state="{escape(name)}" data-outcome="{escape(outcome)}">'
            f"<title>{escape(name)} ({escape(kind)}){': ' + label if label else ''}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" stroke="{stroke}"'
            f' stroke-width="{3 if outcome in ("failed", "succeeded") else 1.5}"/>'
            f'<text x="{x + box_w / 2:.1f}" y="{y + 22:.1f}" text-anchor="middle" class="state-name" fill="{ink}">'
            f"{escape(shown)}</text>"
            f'<text x="{x + box_w / 2:.1f}" y="{y + 41:.1f}" text-anchor="middle" class="state-outcome" fill="{ink}">'
            f"{escape(kind)}{' · ' + label if label else ''}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _arrow(x1: float, y1: float, x2: float, y2: float, kind: str) -> str:
    dash = ' stroke-dasharray="6 4"' if kind == "catch" else ""
    if y2 > y1:
        mid = (y1 + y2) / 2
        d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2 - 2:.1f}"
    else:  # a transition back up (a loop) curves around the side
        d = f"M{x1:.1f},{y1:.1f} C{x1 + 160:.1f},{y1 + 40:.1f} {x2 + 160:.1f},{y2 - 40:.1f} {x2:.1f},{y2 - 2:.1f}"
    return f'<path d="{d}" fill="none" stroke="#4b5563" stroke-width="1.5"{dash} marker-end="url(#arrow)"/>'
