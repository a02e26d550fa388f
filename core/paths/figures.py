"""Plotly figures of paths results: one Sankey, or two side by side, with a colour legend."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Final

import plotly.graph_objects as go
import polars as pl

from core.fmt import color_for, fmt_duration
from core.paths.result import PathsResult

TYPE_COLOURS: Final = {
    "page_view": "#4C78A8",
    "search": "#72B7B2",
    "view_item": "#54A24B",
    "add_to_wishlist": "#B279A2",
    "add_to_cart": "#F58518",
    "remove_from_cart": "#E45756",
    "begin_checkout": "#EECA3B",
    "purchase": "#2CA02C",
    "other": "#9D755D",
}
#: Characters per line of a side's title in a side-by-side comparison (each side has under half
#: the width).
_TITLE_CHARS: Final = 44
SPECIAL_COLOURS: Final = {"other": "#C7C7C7", "drop_off": "#8C8C8C", "gap": "#DDDDDD"}


def node_colour(name: str, kind: str, node_types: Mapping[str, str]) -> str:
    """The colour of a node: by event type for event nodes, grey for the special nodes.

    Names without a known event type (categories, pages) get a stable colour from a fixed
    palette, so a name has the same colour in every chart.
    """
    if kind in SPECIAL_COLOURS:
        return SPECIAL_COLOURS[kind]
    ty = node_types.get(name)
    if ty in TYPE_COLOURS:
        return TYPE_COLOURS[ty]
    # the colour every page gives this value (a category has one colour on Funnels too)
    return color_for(name)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _fmt_seconds(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return ""
    return fmt_duration(s)


_NODE_PAD_PX = 12


def _node_positions(
    steps: list[int], values: list[int], plot_px: float
) -> tuple[list[float], list[float]]:
    """Node centres (x, y in [0, 1], y down): one column per step, nodes stacked in table order.

    One vertical scale for all columns, as Plotly draws node heights, so stacks never overflow;
    within a column the table order puts real nodes first (largest on top), then Other and
    Drop-off at the bottom.
    """
    gap = _NODE_PAD_PX / max(plot_px, 50.0)
    columns: dict[int, list[int]] = {}
    for i, s in enumerate(steps):
        columns.setdefault(s, []).append(i)
    scale = min(
        max(1.0 - gap * (len(idx) - 1), 0.05) / max(sum(values[i] for i in idx), 1)
        for idx in columns.values()
    )
    order = sorted(columns)
    xs, ys = [0.0] * len(steps), [0.0] * len(steps)
    for j, s in enumerate(order):
        top = 0.0
        for i in columns[s]:
            h = values[i] * scale
            xs[i] = min(max(j / max(len(order) - 1, 1), 0.001), 0.999)
            ys[i] = min(max(top + h / 2, 0.001), 0.999)
            top += h + gap
    return xs, ys


def _node_hover(nodes: pl.DataFrame) -> list[list]:
    """Per node: label, step, value, share and the names folded into it (Other nodes)."""
    members = [
        ", ".join(m[:8]) + (" …" if len(m) > 8 else "") if m else ""
        for m in nodes["members"].to_list()
    ]
    return [
        [lbl, s, v, sh, (f"<br>folded: {mem}" if mem else "")]
        for lbl, s, v, sh, mem in zip(
            nodes["label"].to_list(),
            nodes["step"].to_list(),
            nodes["value"].to_list(),
            nodes["share"].to_list(),
            members,
            strict=True,
        )
    ]


def _links(
    result: PathsResult, colours: list[str]
) -> tuple[list[int], list[int], list[list], list[str]]:
    """Sources and targets (node indices), hover data and colours of the Sankey's links."""
    nodes, edges = result.nodes, result.edges
    index = {key: i for i, key in enumerate(nodes["key"].to_list())}
    src = [index[k] for k in edges["source"].to_list()]
    dst = [index[k] for k in edges["target"].to_list()]
    entities = max(result.entities, 1)
    link_custom = [
        [
            nodes["label"][a],
            nodes["label"][b],
            v / entities,
            (f"<br>mean {_fmt_seconds(sec)} between the steps" if sec is not None else ""),
        ]
        for a, b, v, sec in zip(
            src, dst, edges["value"].to_list(), edges["mean_seconds"].to_list(), strict=True
        )
    ]
    link_colours = [
        _rgba(SPECIAL_COLOURS["drop_off"], 0.25)
        if nodes["kind"][b] == "drop_off"
        else _rgba(colours[a], 0.35)
        for a, b in zip(src, dst, strict=True)
    ]
    return src, dst, link_custom, link_colours


def _sankey_trace(
    result: PathsResult, *, plot_px: float, domain_x: tuple[float, float] = (0.0, 1.0)
) -> go.Sankey:
    """The Sankey of one result, its nodes placed one column per step."""
    nodes = result.nodes
    word = result.params.entity_word
    colours = [
        node_colour(n, k, result.node_types)
        for n, k in zip(nodes["name"].to_list(), nodes["kind"].to_list(), strict=True)
    ]
    xs, ys = _node_positions(nodes["step"].to_list(), nodes["value"].to_list(), plot_px)
    src, dst, link_custom, link_colours = _links(result, colours)
    return go.Sankey(
        domain={"x": list(domain_x), "y": [0, 1]},
        arrangement="snap",
        valueformat=",d",
        node={
            "label": nodes["label"].to_list(),
            "color": colours,
            "x": xs,
            "y": ys,
            # Columns are steps: every node past step 1 is reached from the step before, so
            # left alignment (depth from the sources) puts it in its step's column; walking
            # backwards from an end point, right alignment does (distance to the end).
            "align": "right" if result.params.mode == "end" else "left",
            "pad": _NODE_PAD_PX,
            "thickness": 14,
            "line": {"width": 0},
            "customdata": _node_hover(nodes),
            "hovertemplate": (
                "<b>%{customdata[0]}</b> (step %{customdata[1]})<br>"
                f"%{{customdata[2]:,}} {word} (%{{customdata[3]:.1%}} of starting {word})"
                "%{customdata[4]}<extra></extra>"
            ),
        },
        link={
            "source": src,
            "target": dst,
            "value": result.edges["value"].to_list(),
            "color": link_colours,
            "customdata": link_custom,
            "hovertemplate": (
                "%{customdata[0]} → %{customdata[1]}<br>"
                f"%{{value:,}} {word} (%{{customdata[2]:.1%}} of starting {word})"
                "%{customdata[3]}<extra></extra>"
            ),
        },
    )


_SPECIAL_LEGEND: Final = {"other": "Other (rarer steps folded)", "drop_off": "Drop-off (path ended)",
                          "gap": "… (steps elided)"}


def _legend_entries(results: Sequence[PathsResult]) -> list[tuple[str, str]]:
    """(name, colour) of every colour the Sankeys use for a whole kind of node: the event types
    of event nodes, then Other / Drop-off / …; nodes coloured by their own name (categories)
    are named by their label already."""
    types: dict[str, None] = {}
    specials: dict[str, None] = {}
    for r in results:
        if r.empty:
            continue
        for name, kind in r.nodes.select("name", "kind").iter_rows():
            if kind in SPECIAL_COLOURS:
                specials[kind] = None
            elif r.node_types.get(name) in TYPE_COLOURS:
                types[r.node_types[name]] = None
    ordered = [t for t in TYPE_COLOURS if t in types]
    return [(f"{t.replace('_', ' ')} (event type)", TYPE_COLOURS[t]) for t in ordered] + [
        (_SPECIAL_LEGEND[k], SPECIAL_COLOURS[k]) for k in SPECIAL_COLOURS if k in specials
    ]


def _add_legend(fig: go.Figure, results: Sequence[PathsResult]) -> None:
    """A legend of the node colours (a Sankey has none): one square marker per colour."""
    entries = _legend_entries(results)
    for name, colour in entries:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"symbol": "square", "size": 12, "color": colour},
                                 hoverinfo="skip"))
    fig.update_layout(
        showlegend=bool(entries),
        legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top",
                "title": {"text": "colours:"}},
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="rgba(0,0,0,0)",
    )


def paths_figure(result: PathsResult, *, title: str | None = None, height: int = 520) -> go.Figure:
    """A Plotly Sankey of a :class:`PathsResult`.

    Labels are the node names without step prefixes ("Other", "Drop-off", "…" for the special
    nodes); nodes are coloured by event type (one colour per type, stable across charts),
    drop-off nodes are grey; hovering shows the count and the share of starting entities
    (and the mean time between steps on links). Nodes are placed one column per step.

    Parameters
    ----------
    result : PathsResult
        What :func:`compute_paths` returned. An empty result gives an empty figure whose
        title is the result's reason.
    title : str, optional
        Figure title.
    height : int, default 520
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    if result.empty:
        fig.update_layout(title=title or (result.reason or "no paths"), height=height)
        return fig
    top = 40 if title else 10
    fig.add_trace(_sankey_trace(result, plot_px=height - top - 10))
    _add_legend(fig, [result])
    fig.update_layout(
        title=title,
        height=height + 40,  # the legend below the chart
        margin={"l": 10, "r": 10, "t": top, "b": 50},
        font={"size": 12},
    )
    return fig


def paths_comparison_figure(
    left: PathsResult,
    right: PathsResult,
    *,
    left_title: str,
    right_title: str,
    left_value: object = None,
    right_value: object = None,
    height: int = 560,
) -> go.Figure:
    """Two Sankeys side by side (e.g. two values of a breakdown such as device).

    Both use the same colours for the same node names, and each hover's percentage is of its
    own starting entities, so the two sides compare as shares even when their sizes differ.

    Parameters
    ----------
    left, right : PathsResult
        The two results (an empty side shows its reason instead of a chart).
    left_title, right_title : str
        Titles above each side (e.g. ``"device = mobile (1,234 sessions)"``).
    left_value, right_value : optional
        The breakdown value of each side: its title gets the value's colour
        (:func:`core.fmt.color_for`, as on every page), whichever side it is on.
    height : int, default 560
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    annotations = []
    sides = ((left, left_title, left_value, (0.0, 0.48)),
             (right, right_title, right_value, (0.52, 1.0)))
    lines = 1
    for res, title, value, dom in sides:
        # each side has under half the width: a long title ("cohort · Searchers = in cohort
        # (71,404 sessions)") is wrapped, not run into the other side's
        wrapped = textwrap.wrap(str(title), _TITLE_CHARS) or [""]
        lines = max(lines, len(wrapped) + (1 if res.empty else 0))
        text = "<br>".join(f"<b>{part}</b>" for part in wrapped)
        if value is not None:
            text = f"<span style='color:{color_for(value)}'>■</span> {text}"
        if res.empty:
            text += f"<br>{res.reason or 'no paths'}"
        else:
            fig.add_trace(_sankey_trace(res, plot_px=height - 70, domain_x=dom))
        annotations.append(
            {
                "x": (dom[0] + dom[1]) / 2,
                "y": 1.0,
                "yshift": 8,
                "yanchor": "bottom",
                "xref": "paper",
                "yref": "paper",
                "text": text,
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    _add_legend(fig, [left, right])
    fig.update_layout(
        height=height + 40 + 18 * (lines - 1),
        annotations=annotations,
        margin={"l": 10, "r": 10, "t": 42 + 18 * lines, "b": 50},
        font={"size": 12},
    )
    return fig
