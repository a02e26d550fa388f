"""Plotly figures for funnels. Each takes what a ``core.funnels`` function returns."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from core.funnels import FunnelResult, format_seconds

_MAIN = "#2f6fde"
_DROP = "rgba(47, 111, 222, 0.16)"
_GOOD = "#1b9e5a"
_BAD = "#d1495b"
_GREY = "#8a8f98"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def funnel_figure(result: FunnelResult, *, by_breakdown: bool = False) -> go.Figure:
    """Bars per step: entities that reached it, with the drop-off from the previous step.

    With ``by_breakdown`` (and a breakdown), grouped bars of conversion from step 1 per value.
    """
    fig = go.Figure()
    steps = result.steps
    xs = [f"{row['step']}. {row['label']}" for row in steps.iter_rows(named=True)]
    if by_breakdown and not result.breakdown_steps.is_empty():
        per = result.breakdown_steps
        for value in per["breakdown"].unique(maintain_order=True).to_list():
            part = per.filter(pl.col("breakdown") == value)
            conv = [c if c is not None else 0.0 for c in part["conversion_from_first"].to_list()]
            fig.add_bar(
                x=xs,
                y=[100 * c for c in conv],
                name=str(value),
                text=[f"{_pct(c)}<br>{n:,}" for c, n in zip(conv, part["entities"], strict=True)],
                textposition="outside",
                hovertemplate="%{x}<br>" + str(value) + ": %{y:.1f}%<extra></extra>",
            )
        fig.update_layout(
            barmode="group",
            yaxis_title="% of step 1",
            yaxis_range=[0, 110],
            legend_title=result.breakdown,
        )
    else:
        reached = steps["entities"].to_list()
        drop = [d or 0 for d in steps["drop_off"].to_list()]
        conv = steps["conversion_from_first"].to_list()
        prev = steps["conversion_from_previous"].to_list()
        med = steps["median_seconds_from_previous"].to_list()
        hover = []
        for k, row in enumerate(steps.iter_rows(named=True)):
            lines = [f"<b>{xs[k]}</b>", f"{row['entities']:,} reached ({_pct(conv[k])} of step 1)"]
            if k:
                lines.append(f"{_pct(prev[k])} of step {k}; {drop[k]:,} dropped off")
                lines.append(f"median time from step {k}: {format_seconds(med[k])}")
            hover.append("<br>".join(lines))
        fig.add_bar(
            x=xs,
            y=reached,
            name="reached",
            marker_color=_MAIN,
            text=[f"{n:,}<br>{_pct(c)}" for n, c in zip(reached, conv, strict=True)],
            textposition="inside",
            hovertext=hover,
            hoverinfo="text",
        )
        fig.add_bar(
            x=xs,
            y=drop,
            name="dropped off",
            marker_color=_DROP,
            text=[f"−{d:,}" if d else "" for d in drop],
            textposition="inside",
            hovertext=hover,
            hoverinfo="text",
        )
        fig.update_layout(barmode="stack", yaxis_title=f"{result.count_by} count")
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_orientation="h", legend_y=1.08
    )
    return fig


def conversion_over_time_figure(frame: pl.DataFrame, *, title: str = "") -> go.Figure:
    """Conversion by entry period with its interval band; unfinished periods are hollow."""
    fig = go.Figure()
    if frame.is_empty():
        fig.update_layout(title=title or "No entrants in this period")
        return fig
    x = frame["period"].to_list()
    conv = [100 * v for v in frame["conversion"].to_list()]
    low = [100 * v for v in frame["ci_low"].to_list()]
    high = [100 * v for v in frame["ci_high"].to_list()]
    fig.add_scatter(
        x=x + x[::-1],
        y=high + low[::-1],
        fill="toself",
        fillcolor=_DROP,
        line={"width": 0},
        hoverinfo="skip",
        name="95% interval",
    )
    complete = frame["complete"].to_list()
    fig.add_scatter(
        x=x,
        y=conv,
        mode="lines+markers",
        name="conversion",
        line={"color": _MAIN},
        marker={"symbol": ["circle" if c else "circle-open" for c in complete], "size": 8},
        customdata=list(
            zip(frame["entered"].to_list(), frame["converted"].to_list(), complete, strict=True)
        ),
        hovertemplate="%{x}<br>%{y:.1f}% (%{customdata[1]:,} of %{customdata[0]:,})<extra></extra>",
    )
    fig.update_layout(
        title=title,
        yaxis_title="conversion %",
        yaxis_rangemode="tozero",
        margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10},
        showlegend=False,
    )
    return fig


def time_to_convert_figure(frame: pl.DataFrame, *, title: str = "") -> go.Figure:
    """Histogram of conversion times (bars labelled with readable durations)."""
    fig = go.Figure()
    if frame.is_empty():
        fig.update_layout(title=title or "Nobody converted")
        return fig
    starts = frame["bin_start_seconds"].to_list()
    ends = frame["bin_end_seconds"].to_list()
    labels = [f"{format_seconds(a)}–{format_seconds(b)}" for a, b in zip(starts, ends, strict=True)]
    fig.add_bar(
        x=labels,
        y=frame["entities"].to_list(),
        marker_color=_MAIN,
        customdata=[100 * s for s in frame["share"].to_list()],
        hovertemplate="%{x}<br>%{y:,} (%{customdata:.1f}%)<extra></extra>",
    )
    fig.update_layout(
        title=title,
        xaxis_title="time to convert",
        yaxis_title="count",
        bargap=0.05,
        margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10},
    )
    return fig


def breakdown_figure(table: pl.DataFrame, *, overall: float | None = None) -> go.Figure:
    """Conversion per breakdown value with its interval; significant differences coloured."""
    fig = go.Figure()
    if table.is_empty():
        return fig
    colours = []
    for sig, diff in zip(
        table["significant"].to_list(), table["difference"].to_list(), strict=True
    ):
        colours.append(_GREY if not sig or diff is None else (_GOOD if diff > 0 else _BAD))
    conv = [100 * c for c in table["conversion"].to_list()]
    fig.add_scatter(
        x=conv,
        y=table["breakdown"].to_list(),
        mode="markers",
        marker={"color": colours, "size": 10},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [100 * h - c for h, c in zip(table["ci_high"], conv, strict=True)],
            "arrayminus": [c - 100 * lo for lo, c in zip(table["ci_low"], conv, strict=True)],
            "color": _GREY,
        },
        customdata=list(
            zip(
                table["entered"].to_list(),
                table["converted"].to_list(),
                [p if p is not None else float("nan") for p in table["p_adjusted"].to_list()],
                strict=True,
            )
        ),
        hovertemplate="%{y}: %{x:.1f}% (%{customdata[1]:,} of %{customdata[0]:,})"
        "<br>adjusted p = %{customdata[2]:.3g}<extra></extra>",
    )
    if overall is not None:
        fig.add_vline(x=100 * overall, line_dash="dot", line_color=_GREY)
    fig.update_layout(
        xaxis_title="conversion %",
        yaxis_autorange="reversed",
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        showlegend=False,
    )
    return fig
