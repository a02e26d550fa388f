"""Figures of a rule set: a network of the strongest rules, and support against confidence.

Both take a :class:`~core.rules.result.RuleSet` or its ``rules`` frame and return a Plotly
figure (an empty one with a note when there is no rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import plotly.graph_objects as go
import polars as pl

from core.errors import ParameterError, is_integer
from core.fmt import fmt_count, fmt_pct
from core.rules.result import RuleSet, _rules_frame


def _rule_text(antecedents: Sequence[str], consequents: Sequence[str]) -> str:
    return f"{' + '.join(antecedents)} → {' + '.join(consequents)}"


def _circle_order(n_items: int, arcs: Sequence[tuple[int, int, int]]) -> list[int]:
    """Items in drawing order round the circle: connected items next to each other.

    Components (items linked by a rule, directly or through a hub) come largest first, each
    walked breadth-first from its best-connected item, so a bundle's items are neighbours and
    its arrows are short chords instead of lines across the drawing.
    """
    links: dict[int, set[int]] = {i: set() for i in range(n_items)}
    by_rule: dict[int, set[int]] = {}
    for s, t, r in arcs:
        by_rule.setdefault(r, set()).update(x for x in (s, t) if x < n_items)
    for members in by_rule.values():
        for x in members:
            links[x] |= members - {x}
    seen: set[int] = set()
    components: list[list[int]] = []
    for start in sorted(range(n_items), key=lambda i: (-len(links[i]), i)):
        if start in seen:
            continue
        seen.add(start)
        comp, queue = [], [start]
        while queue:
            x = queue.pop(0)
            comp.append(x)
            for y in sorted(links[x] - seen, key=lambda i: (-len(links[i]), i)):
                seen.add(y)
                queue.append(y)
        components.append(comp)
    components.sort(key=lambda c: -len(c))  # stable: ties keep the rule order
    return [x for comp in components for x in comp]


def _circle_layout(
    n_items: int, arcs: Sequence[tuple[int, int, int]], n_hubs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Items evenly on the unit circle (see :func:`_circle_order`), hubs inside.

    Evenly spaced, any two items are at least ``2 sin(pi / n)`` apart, so labels placed
    outward beside their nodes never sit on each other. A hub (a rule with several items on a
    side) sits at 60% of the way to the mean position of its items. Returns the positions
    (items then hubs) and each item's angle.
    """
    order = _circle_order(n_items, arcs)
    angles = np.zeros(n_items)
    # start at the top, clockwise, as one reads
    angles[order] = np.pi / 2 - 2 * np.pi * np.arange(n_items) / max(n_items, 1)
    pos = np.zeros((n_items + n_hubs, 2))
    pos[:n_items] = np.c_[np.cos(angles), np.sin(angles)]
    members: dict[int, list[int]] = {}
    for s, t, _ in arcs:
        if s >= n_items:
            members.setdefault(s, []).append(t)
        if t >= n_items:
            members.setdefault(t, []).append(s)
    for hub, items in members.items():
        pos[hub] = 0.6 * pos[items].mean(axis=0)
    return pos, angles


def _label_side(angle: float) -> str:
    """Where a label goes beside a node on the circle: outward, away from the arrows."""
    x, y = math.cos(angle), math.sin(angle)
    if x > 0.2:
        return "middle right"
    if x < -0.2:
        return "middle left"
    return "top center" if y > 0 else "bottom center"


_ARROW_RGB: Final[str] = "99, 110, 250"
_ITEM_COLOUR: Final[str] = "#EF553B"


def rules_network_figure(rules: RuleSet | pl.DataFrame, *, top: int = 30) -> go.Figure:
    """Network of the strongest rules: items are nodes, rules are arrows, width by lift.

    Items sit evenly on a circle, the items of a rule next to each other, each label beside
    its node on the outside; a rule with one item on each side is an arrow between the two
    items, a rule with several items on a side goes through a small hub dot inside the circle
    (the items of the left side point to it, it points to the items of the right side). Node
    size follows the item's basket count. The legend names the item and hub markers and shows
    the thinnest and thickest arrow with their lift.

    Parameters
    ----------
    rules : RuleSet or pl.DataFrame
        A :class:`RuleSet` or its ``rules`` frame.
    top : int >= 1, default 30
        Number of rules drawn, the highest lift first.

    Returns
    -------
    plotly.graph_objects.Figure
        An empty figure with a note when there is no rule.

    Raises
    ------
    ParameterError
        ``top`` is not a positive integer.
    """
    if not is_integer(top) or top < 1:
        raise ParameterError(f"`top` must be a positive integer, got {top!r}")
    frame = (
        _rules_frame(rules)
        .sort(["lift", "confidence", "support"], descending=True, maintain_order=True)
        .head(int(top))
    )
    fig = go.Figure()
    fig.update_layout(
        # room outside the unit circle for the labels
        xaxis={"visible": False, "range": [-2.4, 2.4]},
        yaxis={"visible": False, "scaleanchor": "x", "range": [-1.35, 1.35]},
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=620,
        plot_bgcolor="white",
    )
    if frame.height == 0:
        fig.update_layout(title="No rule to draw", showlegend=False)
        return fig
    graph = _RuleGraph.of(frame)
    lifts = frame.get_column("lift").to_numpy()
    pos, angles = _circle_layout(graph.n_items, graph.arcs, len(graph.hubs))
    lo, hi = float(lifts.min()), float(lifts.max())
    width = 1.5 + 6.5 * ((lifts - lo) / (hi - lo) if hi > lo else np.full_like(lifts, 0.5))
    texts = [
        _rule_text(row["antecedents"], row["consequents"])
        + f"<br>lift {row['lift']:.2f} · confidence {fmt_pct(row['confidence'])}"
        + f" · {fmt_count(row['baskets'])} baskets"
        for row in frame.iter_rows(named=True)
    ]
    # One layout update: add_annotation one by one is quadratic in plotly.
    fig.update_layout(annotations=_arrows(graph, pos, width))
    _add_rule_traces(fig, graph, pos, texts, width, lifts)
    _add_item_traces(fig, graph, pos, angles)
    fig.update_layout(
        title=f"The {frame.height} strongest rules by lift (wider arrow = higher lift)"
    )
    return fig


@dataclass
class _RuleGraph:
    """Items as nodes (numbered in order of appearance), rules as arcs through hubs.

    ``arcs`` are (source node, target node, rule index); a rule with several items on a side
    gets a hub, numbered after the items; ``size`` is an item's basket count as a one-item
    side (0 when it only appears in larger sides).
    """

    nodes: dict[str, int] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    arcs: list[tuple[int, int, int]] = field(default_factory=list)
    hubs: list[int] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return len(self.nodes)

    @classmethod
    def of(cls, frame: pl.DataFrame) -> _RuleGraph:
        g = cls()
        for row in frame.iter_rows(named=True):
            for side, count in (
                (row["antecedents"], row["antecedent_baskets"]),
                (row["consequents"], row["consequent_baskets"]),
            ):
                for it in side:
                    g.nodes.setdefault(it, len(g.nodes))
                    if len(side) == 1:
                        g.size[it] = max(g.size.get(it, 0), count)
                    else:
                        g.size.setdefault(it, 0)
        n_items = g.n_items
        for r, row in enumerate(frame.iter_rows(named=True)):
            a, c = row["antecedents"], row["consequents"]
            if len(a) == 1 and len(c) == 1:
                g.arcs.append((g.nodes[a[0]], g.nodes[c[0]], r))
            else:
                hub = n_items + len(g.hubs)
                g.hubs.append(r)
                g.arcs.extend((g.nodes[x], hub, r) for x in a)
                g.arcs.extend((hub, g.nodes[x], r) for x in c)
        return g


def _arrows(graph: _RuleGraph, pos: np.ndarray, width: np.ndarray) -> list[dict[str, Any]]:
    """One arrow annotation per arc, from source to target, as wide as its rule's lift."""
    n_items = graph.n_items
    return [
        {
            "x": float(pos[t, 0]),
            "y": float(pos[t, 1]),
            "ax": float(pos[s, 0]),
            "ay": float(pos[s, 1]),
            "xref": "x",
            "yref": "y",
            "axref": "x",
            "ayref": "y",
            "showarrow": True,
            "arrowhead": 2,
            "arrowsize": 0.8,
            "arrowwidth": float(width[r]),
            "arrowcolor": f"rgba({_ARROW_RGB}, 0.55)",
            "standoff": 14 if t < n_items else 3,
            "startstandoff": 10 if s < n_items else 2,
            "text": "",
        }
        for s, t, r in graph.arcs
    ]


def _add_rule_traces(
    fig: go.Figure,
    graph: _RuleGraph,
    pos: np.ndarray,
    texts: list[str],
    width: np.ndarray,
    lifts: np.ndarray,
) -> None:
    """Hover points on the arcs, the legend of arrow widths, and the hub dots."""
    # Invisible markers at arc midpoints carry each rule's hover text.
    mids = np.array([(pos[s] + pos[t]) / 2 for s, t, _ in graph.arcs])
    fig.add_trace(
        go.Scatter(
            x=mids[:, 0],
            y=mids[:, 1],
            mode="markers",
            marker={"size": 12, "opacity": 0},
            hovertext=[texts[r] for _, _, r in graph.arcs],
            hoverinfo="text",
            name="rules",
            showlegend=False,
        )
    )
    # Legend: the thinnest and the thickest arrow with their lift (annotations have no legend).
    thin, thick = int(np.argmin(width)), int(np.argmax(width))
    for r, what in ((thin, "lowest"), (thick, "highest")):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                line={"width": float(width[r]), "color": f"rgba({_ARROW_RGB}, 0.8)"},
                name=f"rule, arrow from 'if' to 'then' items: {what} lift {lifts[r]:.2f}",
                hoverinfo="skip",
            )
        )
    if graph.hubs:
        fig.add_trace(
            go.Scatter(
                x=pos[graph.n_items :, 0],
                y=pos[graph.n_items :, 1],
                mode="markers",
                marker={"size": 7, "color": f"rgba({_ARROW_RGB}, 0.9)"},
                hovertext=[texts[r] for r in graph.hubs],
                hoverinfo="text",
                name="rule with several items on a side (joins them)",
            )
        )


def _add_item_traces(
    fig: go.Figure, graph: _RuleGraph, pos: np.ndarray, angles: np.ndarray
) -> None:
    """The item nodes with their labels, and their legend entry."""
    n_items, size = graph.n_items, graph.size
    names = list(graph.nodes)
    counts = np.array([size[x] for x in names], dtype=float)
    marker_size = 14 + 22 * np.sqrt(counts / counts.max()) if counts.max() > 0 else 18
    fig.add_trace(
        go.Scatter(
            x=pos[:n_items, 0],
            y=pos[:n_items, 1],
            mode="markers+text",
            text=names,
            textposition=[_label_side(a) for a in angles],
            cliponaxis=False,  # a long label may reach past the plot area, never cut
            marker={
                "size": marker_size,
                "color": _ITEM_COLOUR,
                "line": {"width": 1, "color": "white"},
            },
            hovertext=[f"{x}<br>{fmt_count(size[x])} baskets" for x in names],
            hoverinfo="text",
            name="items",
            legendgroup="items",
            showlegend=False,
        )
    )
    fig.add_trace(  # the legend entry of the items: a mid-size marker, saying what size means
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"size": 14, "color": _ITEM_COLOUR},
            name="item (bigger = in more baskets)",
            legendgroup="items",
            hoverinfo="skip",
        )
    )


def rules_scatter_figure(rules: RuleSet | pl.DataFrame, *, max_points: int = 5000) -> go.Figure:
    """Support against confidence of every rule, coloured by lift.

    Parameters
    ----------
    rules : RuleSet or pl.DataFrame
        A :class:`RuleSet` or its ``rules`` frame.
    max_points : int >= 1, default 5000
        Most rules drawn (the highest lift first); the title says when rules were left out.

    Returns
    -------
    plotly.graph_objects.Figure
        An empty figure with a note when there is no rule.

    Raises
    ------
    ParameterError
        ``max_points`` is not a positive integer.
    """
    if not is_integer(max_points) or max_points < 1:
        raise ParameterError(f"`max_points` must be a positive integer, got {max_points!r}")
    frame = _rules_frame(rules)
    total = frame.height
    frame = frame.sort("lift", descending=True, maintain_order=True).head(int(max_points))
    fig = go.Figure()
    fig.update_layout(
        xaxis={"title": "support (share of baskets)", "tickformat": ".1%"},
        yaxis={"title": "confidence", "tickformat": ".0%"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=460,
    )
    if total == 0:
        fig.update_layout(title="No rule to draw")
        return fig
    texts = [
        _rule_text(a, c) + f"<br>support {s:.2%} · confidence {q:.0%} · lift {lift:.2f}"
        for a, c, s, q, lift in frame.select(
            "antecedents", "consequents", "support", "confidence", "lift"
        ).iter_rows()
    ]
    trace = go.Scattergl if frame.height > 1000 else go.Scatter
    fig.add_trace(
        trace(
            x=frame.get_column("support").to_numpy(),
            y=frame.get_column("confidence").to_numpy(),
            mode="markers",
            marker={
                "color": frame.get_column("lift").to_numpy(),
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": "lift"},
                "size": 8,
                "opacity": 0.8,
            },
            hovertext=texts,
            hoverinfo="text",
        )
    )
    title = f"{total:,} rules: support vs confidence, coloured by lift"
    if frame.height < total:
        title = f"The {frame.height:,} highest-lift of {total:,} rules: support vs confidence"
    fig.update_layout(title=title)
    return fig
