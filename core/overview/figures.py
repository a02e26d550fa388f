"""Overview charts and people-readable tables built from the trend and the event mix."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl

from core.compare import ComparisonWindow
from core.errors import ParameterError
from core.fmt import PeopleTable, count_axis
from core.overview.trend import TREND_METRICS

#: One colour per canonical event type, shared by every chart.
EVENT_COLORS: dict[str, str] = {
    "page_view": "#8da0cb",
    "search": "#a6d854",
    "view_item": "#66c2a5",
    "add_to_wishlist": "#e5c494",
    "add_to_cart": "#fc8d62",
    "remove_from_cart": "#e78ac3",
    "begin_checkout": "#ffd92f",
    "purchase": "#1b9e77",
    "other": "#b3b3b3",
}


def daily_trend_figure(
    trend: pl.DataFrame,
    *,
    metric: str = "sessions",
    currency: str | None = None,
    comparison: ComparisonWindow | None = None,
) -> go.Figure:
    """Line chart of one column of :func:`activity_trend` (or :func:`daily_trend`) over time.

    Complete periods are joined by a solid line; a partly covered first or last period is
    drawn as a lone open marker named as incomplete in the legend (not joined: no cliff). Count
    axes tick in whole numbers.

    When the trend has the comparison columns (``activity_trend(..., against=...)``), the
    earlier window's values are drawn at the current periods as a dashed grey line (hover
    ``"same day last year (2023-03-05): 120 sessions"`` or ``"previous period (...)"``);
    earlier periods the data cover only in part are lone open grey markers, and uncovered
    ones are left out. ``comparison`` (the window the trend was compared with) names the line
    in the legend and words the hover; without it the line is "earlier period"."""
    col = "period" if "period" in trend.columns else "day"
    fig = go.Figure()
    if metric not in trend.columns:
        raise ParameterError(f"`metric` must be one of {list(TREND_METRICS)}, got {metric!r}")
    x, y = trend[col].to_list(), trend[metric].to_list()
    complete = trend["complete"].to_list() if "complete" in trend.columns else [True] * len(x)
    word = TREND_METRICS.get(metric, metric)
    if metric == "revenue" and currency:
        word = f"revenue ({currency})"
    hover = "%{x}<br>%{y:,.2f} " + word if metric == "revenue" else "%{x}<br>%{y:,} " + word
    done = [i for i, c in enumerate(complete) if c]
    fig.add_scatter(x=[x[i] for i in done], y=[y[i] for i in done], mode="lines+markers",
                    line={"color": "#1f77b4"}, marker={"size": 5}, name=word,
                    hovertemplate=hover + "<extra></extra>")
    partial = [i for i, c in enumerate(complete) if not c]
    if partial:
        # a lone open marker, not joined by a line: a period the data cover only part of would
        # otherwise read as a cliff (or a spike) in the trend
        fig.add_scatter(
            x=[x[i] for i in partial], y=[y[i] for i in partial], mode="markers",
            marker={"size": 9, "symbol": "circle-open", "color": "#1f77b4"},
            name="incomplete period (data cover part of it)",
            hovertemplate=hover + " (incomplete period)<extra></extra>",
        )
    if col == "day":
        grain = "day"
    elif len(x) > 1:
        step = min(b - a for a, b in zip(x[:-1], x[1:], strict=True))
        grain = "hour" if step < timedelta(days=1) else "day" if step < timedelta(weeks=1) else "week"
    else:
        grain = "day"
    y_top = max(y, default=0)
    if f"previous_{metric}" in trend.columns:
        y_top = max(y_top, _add_comparison(fig, trend, metric, word, grain, comparison))
    per = {"hour": "Hourly", "day": "Daily", "week": "Weekly"}[grain]
    fig.update_layout(
        title=f"{per} {word}", margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=360,
        xaxis_title=f"{grain} (UTC)" if grain != "week" else "week from Monday (UTC)",
        showlegend=True, legend_orientation="h", legend_y=-0.32,
    )
    if metric == "revenue":
        fig.update_yaxes(title_text=word, rangemode="tozero", tickformat=",.2~f")
    else:
        fig.update_layout(yaxis=count_axis(y_top))
        fig.update_yaxes(title_text=word)
    if grain == "hour":
        fig.update_xaxes(tickformat="%H:%M\n%b %d")
    return fig


def _add_comparison(
    fig: go.Figure,
    trend: pl.DataFrame,
    metric: str,
    word: str,
    grain: str,
    comparison: ComparisonWindow | None,
) -> float:
    """Draw the earlier window's values of ``metric``; return their maximum (for the axis)."""
    if comparison is not None and comparison.against == "year":
        lead, name = f"same {grain} last year", comparison.label.removeprefix("vs ")
    elif comparison is not None:
        lead, name = "previous period", comparison.label.removeprefix("vs ")
    else:
        lead, name = "earlier period", "earlier period"
    fmt = "%Y-%m-%d %H:%M" if grain == "hour" else "%Y-%m-%d"
    number = "%{y:,.2f} " if metric == "revenue" else "%{y:,} "
    hover = f"{lead} (%{{customdata}}): {number}{word}"
    shown = trend.filter(pl.col(f"previous_{metric}").is_not_null())
    top = 0.0
    for complete in (True, False):
        part = shown.filter(pl.col("previous_complete") == complete)
        if part.is_empty():
            continue
        values = part[f"previous_{metric}"].to_list()
        top = max(top, max(values))
        days = [p.strftime(fmt) for p in part["previous_start"].to_list()]
        if complete:
            fig.add_scatter(x=part["period"].to_list(), y=values, customdata=days,
                            mode="lines", line={"color": "#9e9e9e", "dash": "dash"},
                            name=name, hovertemplate=hover + "<extra></extra>")
        else:
            fig.add_scatter(x=part["period"].to_list(), y=values, customdata=days,
                            mode="markers", marker={"size": 8, "symbol": "circle-open",
                                                    "color": "#9e9e9e"},
                            name=f"{name}: period only partly covered",
                            hovertemplate=hover + " (partly covered)<extra></extra>")
    return top


def event_mix_figure(mix: pl.DataFrame) -> go.Figure:
    """Horizontal bars of events per canonical type (coloured by type)."""
    by_type = mix.group_by("event_type").agg(pl.col("count").sum()).sort("count")
    fig = go.Figure(
        go.Bar(
            y=by_type["event_type"].to_list(), x=by_type["count"].to_list(), orientation="h",
            marker_color=[EVENT_COLORS.get(t, "#999") for t in by_type["event_type"]],
        )
    )
    fig.update_layout(title="Event mix", margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=340,
                      xaxis_title="events", yaxis_title="event type", showlegend=False)
    fig.update_xaxes(tickformat=",d")
    return fig


def trend_people_table(trend: pl.DataFrame, *, currency: str | None = None) -> PeopleTable:
    """:func:`activity_trend` for people: readable columns, counts and revenue kept as numbers
    (``Revenue (EUR)`` when the currency is known), the period as text."""
    if trend.is_empty():
        return PeopleTable.build({"Period (UTC)": ("text", [])})
    hourly = trend.height > 1 and (trend["period"][1] - trend["period"][0]) < timedelta(days=1)
    fmt = "%Y-%m-%d %H:%M" if hourly else "%Y-%m-%d"
    money = f"Revenue ({currency})" if currency else "Revenue"
    return PeopleTable.build({
        "Period (UTC)": ("text", [p.strftime(fmt) for p in trend["period"].to_list()]),
        "Sessions": ("count", trend["sessions"]),
        "Users": ("count", trend["users"]),
        "Orders": ("count", trend["orders"]),
        money: ("money", trend["revenue"]),
        "Events": ("count", trend["events"]),
        "Complete period": ("text", ["yes" if c else "no (data cover part of it)"
                                     for c in trend["complete"].to_list()]),
    })


def mix_people_table(mix: pl.DataFrame) -> PeopleTable:
    """:func:`event_mix` for people: type and event as text, the count, the share (percent)."""
    return PeopleTable.build({
        "Event type": ("text", mix["event_type"]),
        "Event": ("text", mix["event"]),
        "Events": ("count", mix["count"]),
        "Share": ("percent", mix["share"]),
    })
