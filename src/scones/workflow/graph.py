"""Draw a state machine as the Step Functions console does: one box per state, coloured by
how an execution went (green succeeded, red failed, grey not reached), as SVG and PNG.

The layout is a column in the order states are first reached from StartAt (Next, Default,
Choices, Catch); Catch edges are dashed. The SVG is written by hand; the PNG uses matplotlib
(imported only here).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from scones.workflow import definition as asl

asl_load = asl.load

GREEN, RED, GREY, BLUE = "#2e9d4a", "#d13212", "#b8b8b8", "#0073bb"
BOX_W, BOX_H, GAP, MARGIN = 240, 44, 36, 30


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    catch: bool = False


def layout(definition: dict[str, Any]) -> tuple[list[str], list[Edge]]:
    """Top-level states in order of first reach from StartAt, and the edges between them."""
    states: dict[str, Any] = definition["States"]
    order: list[str] = []
    edges: list[Edge] = []
    queue: list[str] = [definition["StartAt"]]
    later: list[str] = []  # Catch targets (Fail states) go after the main path
    while queue or later:
        name = queue.pop(0) if queue else later.pop(0)
        if name in order or name not in states:
            continue
        order.append(name)
        for target, catch in _targets(states[name]):
            edges.append(Edge(name, target, catch))
            (later if catch else queue).append(target)
    order += [n for n in states if n not in order]  # unreachable states still get drawn
    return order, edges


def _targets(state: dict[str, Any]) -> Iterable[tuple[str, bool]]:
    if "Next" in state:
        yield state["Next"], False
    for choice in state.get("Choices", []):
        if "Next" in choice:
            yield choice["Next"], False
    if "Default" in state:
        yield state["Default"], False
    for catcher in state.get("Catch", []):
        yield catcher["Next"], True


def colours(order: list[str], events: list[dict[str, Any]], definition: dict[str, Any]) -> dict[str, str]:
    """State name -> colour from an execution's history (all grey without one)."""
    entered: list[str] = []
    exited: set[str] = set()
    for event in events:
        for key, details in event.items():
            if not key.endswith("EventDetails") or not isinstance(details, dict) or "name" not in details:
                continue
            if event["type"].endswith("StateEntered"):
                entered.append(details["name"])
            elif event["type"].endswith("StateExited"):
                exited.add(details["name"])
    failed = any(e["type"] in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted") for e in events)
    result = {name: GREY for name in order}
    for name in entered:
        state_type = definition["States"].get(name, {}).get("Type")
        if state_type == "Fail" or (name not in exited and failed):
            result[name] = RED
        elif name in exited or state_type == "Succeed":
            result[name] = GREEN
    return result


def svg(definition: dict[str, Any], events: list[dict[str, Any]] | None = None, title: str = "") -> str:
    order, edges = layout(definition)
    fill = colours(order, events or [], definition)
    y = {name: MARGIN + 40 + i * (BOX_H + GAP) for i, name in enumerate(order)}
    width, height = BOX_W + 2 * MARGIN + 120, MARGIN * 2 + 40 + len(order) * (BOX_H + GAP)
    x = MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{x}" y="{MARGIN}" font-family="sans-serif" font-size="14" fill="#222">{escape(title)}</text>',
    ]
    for edge in edges:
        if edge.target not in y:
            continue
        x0, y0, y1 = x + BOX_W / 2, y[edge.source] + BOX_H, y[edge.target]
        dash = ' stroke-dasharray="5,4"' if edge.catch else ""
        if y1 > y0 and not edge.catch and y1 - y0 <= GAP + 1:
            path = f"M{x0},{y0} L{x0},{y1}"
        else:  # around the right side for skips, loops and catches
            xr = x + BOX_W + 40 + (20 if edge.catch else 0)
            ys, yt = y[edge.source] + BOX_H / 2, y1 + BOX_H / 2
            path = f"M{x + BOX_W},{ys} L{xr},{ys} L{xr},{yt} L{x + BOX_W},{yt}"
        parts.append(f'<path d="{path}" fill="none" stroke="#555" stroke-width="1.5"{dash} marker-end="url(#arrow)"/>')
    for name in order:
        kind = definition["States"].get(name, {}).get("Type", "")
        parts.append(
            f'<g class="state" data-state="{escape(name)}" data-colour="{fill[name]}">'
            f'<rect x="{x}" y="{y[name]}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill[name]}" stroke="#333"/>'
            f'<text x="{x + BOX_W / 2}" y="{y[name] + 19}" text-anchor="middle" font-family="sans-serif" '
            f'font-size="13" fill="white">{escape(name)}</text>'
            f'<text x="{x + BOX_W / 2}" y="{y[name] + 35}" text-anchor="middle" font-family="sans-serif" '
            f'font-size="10" fill="white">{escape(kind)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def png(definition: dict[str, Any], path: Path, events: list[dict[str, Any]] | None = None, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    order, edges = layout(definition)
    fill = colours(order, events or [], definition)
    step = 1.4
    y = {name: -i * step for i, name in enumerate(order)}
    fig, ax = plt.subplots(figsize=(4.5, 1.2 + 0.9 * len(order)))
    for edge in edges:
        if edge.target in y:
            rad = 0.0 if (y[edge.source] - y[edge.target] == step and not edge.catch) else -0.5
            ax.add_patch(
                FancyArrowPatch(
                    (0.0, y[edge.source] - 0.3),
                    (0.0, y[edge.target] + 0.3),
                    connectionstyle=f"arc3,rad={rad}",
                    arrowstyle="-|>",
                    mutation_scale=12,
                    linestyle="--" if edge.catch else "-",
                    color="#555",
                )
            )
    for name in order:
        ax.add_patch(
            FancyBboxPatch((-1.5, y[name] - 0.3), 3.0, 0.6, boxstyle="round,pad=0.02", fc=fill[name], ec="#333")
        )
        ax.text(0, y[name], name, ha="center", va="center", color="white", fontsize=10)
    ax.set_xlim(-2.6, 2.6)
    ax.set_ylim(-step * (len(order) - 1) - 0.8, 0.9)
    ax.set_title(textwrap.fill(title, 48), fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw(definition_text: str, out: Path, events: list[dict[str, Any]] | None = None, title: str = "") -> list[Path]:
    """Write `<out>.svg` and `<out>.png`; return both paths."""
    definition = asl.load(definition_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    svg_path, png_path = out.with_suffix(".svg"), out.with_suffix(".png")
    svg_path.write_text(svg(definition, events, title), encoding="utf-8")
    png(definition, png_path, events, title)
    return [svg_path, png_path]
