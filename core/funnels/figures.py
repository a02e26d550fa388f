"""Plotly figures and tables for people for funnels. Each takes what a ``core.funnels``
function returns; numbers are formatted by :mod:`core.fmt`, axis titles are words, and a
breakdown value has the same colour in every figure (:func:`core.fmt.color_for`)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from core.fmt import (
    PeopleTable,
    color_for,
    count_axis,
    entity_noun,
    fmt_count,
    fmt_duration,
    fmt_pct,
    fmt_pvalue,
)
from core.funnels.result import FunnelResult
from core.funnels.stats import TREND_DEFINITIONS

_MAIN = "#2f6fde"
_DROP = "rgba(47, 111, 222, 0.16)"
_GOOD = "#1b9e5a"
_BAD = "#d1495b"
_GREY = "#8a8f98"


def _pct(x: float | None) -> str:
    return fmt_pct(x)


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
                marker_color=color_for(value),
                text=[f"{_pct(c)}<br>{n:,}" for c, n in zip(conv, part["entities"], strict=True)],
                textposition="outside",
                hovertemplate="%{x}<br>" + str(value) + ": %{y:.1f}%<extra></extra>",
            )
        fig.update_layout(
            barmode="group",
            yaxis_title=f"% of {entity_noun(result.count_by)} at step 1",
            yaxis_range=[0, 110],
            yaxis_ticksuffix="%",
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
                lines.append(f"median time from step {k}: {fmt_duration(med[k])}")
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
        fig.update_layout(barmode="stack", yaxis=count_axis(max(reached, default=0)))
        fig.update_yaxes(title_text=entity_noun(result.count_by))
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend_orientation="h",
        legend_y=1.08,
        showlegend=True,
    )
    return fig


_INTERVAL_WORDS = {"hour": "hour", "day": "day", "week": "week (from Monday)"}


def trend_title(definition: str, interval: str, entity: str = "users") -> str:
    """The title that names a conversion trend's definition (see ``TREND_DEFINITIONS``)."""
    if definition == "cohort":
        return f"Conversion of {entity} by the {interval} of their first entry (cohort)"
    return f"Conversion of the attempts that entered each {interval}"


def conversion_over_time_figure(
    frame: pl.DataFrame,
    *,
    title: str = "",
    definition: str = "attempts",
    interval: str = "day",
    entity: str = "users",
) -> go.Figure:
    """Conversion per period with its interval band.

    The line joins the complete periods only; periods whose conversion window had not closed
    at the end of the data are drawn apart (dashed, hollow markers) and named in the legend as
    incomplete, so a last partial period reads as unfinished, not as a cliff.

    Parameters
    ----------
    frame : pl.DataFrame
        From :func:`core.funnels.conversion_by_attempt` or
        :func:`core.funnels.conversion_over_time`.
    title : str, optional
        Default: the definition in words (:func:`trend_title`).
    definition : {"attempts", "cohort"}
        Which function made ``frame``; names the axis and the title.
    interval : {"hour", "day", "week"}
    entity : str
        What is counted, in words (``"users"``).
    """
    title = title or trend_title(definition, interval, entity)
    fig = go.Figure()
    if frame.is_empty():
        fig.update_layout(title="Nobody entered the funnel in this period")
        return fig
    x = frame["period"].to_list()
    conv = [100 * v for v in frame["conversion"].to_list()]
    low = [100 * v for v in frame["ci_low"].to_list()]
    high = [100 * v for v in frame["ci_high"].to_list()]
    complete = frame["complete"].to_list()
    unit = "attempts" if definition == "attempts" else entity
    custom = [
        [fmt_count(c), fmt_count(n), fmt_pct(p), "" if ok else "<br><i>window not closed yet</i>"]
        for c, n, p, ok in zip(
            frame["converted"].to_list(), frame["entered"].to_list(),
            frame["conversion"].to_list(), complete, strict=True,
        )
    ]
    hover = (
        "%{x}<br>%{customdata[2]} (%{customdata[0]} of %{customdata[1]} " + unit + ")"
        "%{customdata[3]}<extra></extra>"
    )
    fig.add_scatter(
        x=x + x[::-1],
        y=high + low[::-1],
        fill="toself",
        fillcolor=_DROP,
        line={"width": 0},
        hoverinfo="skip",
        name="95% interval",
    )
    _add_trend_lines(fig, x, conv, complete, custom, hover)
    word = _INTERVAL_WORDS.get(interval, interval)
    fig.update_layout(
        title=title,
        xaxis_title=f"{word} of entry (UTC)",
        yaxis_title=f"% of {unit} converted",
        yaxis_rangemode="tozero",
        yaxis_ticksuffix="%",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=True,
        legend_orientation="h",
        legend_y=-0.25,
    )
    if interval == "hour":
        fig.update_xaxes(tickformat="%H:%M\n%b %d")
    return fig


def _add_trend_lines(
    fig: go.Figure, x: list, conv: list, complete: list, custom: list, hover: str
) -> None:
    """The solid line through the complete periods, and the incomplete ones drawn apart."""
    done = [i for i, c in enumerate(complete) if c]
    if done:
        fig.add_scatter(
            x=[x[i] for i in done],
            y=[conv[i] for i in done],
            mode="lines+markers",
            name="conversion",
            line={"color": _MAIN},
            marker={"size": 8},
            customdata=[custom[i] for i in done],
            hovertemplate=hover,
        )
    open_ = [i for i, c in enumerate(complete) if not c]
    if open_:
        # joined to the last complete period by a dashed line, never by the solid trend line
        link = ([done[-1]] if done and done[-1] < open_[0] else []) + open_
        fig.add_scatter(
            x=[x[i] for i in link],
            y=[conv[i] for i in link],
            mode="lines+markers",
            name="incomplete (window not closed yet)",
            line={"color": _MAIN, "dash": "dot"},
            marker={"size": 8, "symbol": ["circle" if complete[i] else "circle-open"
                                          for i in link]},
            customdata=[custom[i] for i in link],
            hovertemplate=hover,
        )


def time_to_convert_figure(
    frame: pl.DataFrame, *, title: str = "", entity: str = "users"
) -> go.Figure:
    """Histogram of conversion times (bars labelled with readable durations)."""
    fig = go.Figure()
    if frame.is_empty():
        fig.update_layout(title=title or "Nobody converted")
        return fig
    starts = frame["bin_start_seconds"].to_list()
    ends = frame["bin_end_seconds"].to_list()
    labels = [f"{fmt_duration(a)}–{fmt_duration(b)}" for a, b in zip(starts, ends, strict=True)]
    counts = frame["entities"].to_list()
    fig.add_bar(
        x=labels,
        y=counts,
        name=f"{entity} who converted",
        marker_color=_MAIN,
        customdata=[fmt_pct(s) for s in frame["share"].to_list()],
        hovertemplate="%{x}<br>%{y:,} " + entity + " (%{customdata})<extra></extra>",
    )
    fig.update_layout(
        title=title,
        xaxis_title="time to convert",
        yaxis_title=f"{entity} who converted",
        yaxis=count_axis(max(counts, default=0)),
        bargap=0.05,
        margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10},
        showlegend=False,
    )
    return fig


_SIGNIFICANCE = (
    ("higher than the rest (significant)", _GOOD),
    ("lower than the rest (significant)", _BAD),
    ("no significant difference", _GREY),
)


def breakdown_figure(table: pl.DataFrame, *, overall: float | None = None) -> go.Figure:
    """Conversion per breakdown value with its interval; significant differences coloured
    (the legend names the three colours)."""
    fig = go.Figure()
    if table.is_empty():
        return fig
    kinds = []
    for sig, diff in zip(
        table["significant"].to_list(), table["difference"].to_list(), strict=True
    ):
        kinds.append(2 if not sig or diff is None else (0 if diff > 0 else 1))
    conv = [100 * c for c in table["conversion"].to_list()]
    values = table["breakdown"].to_list()
    for kind, (name, colour) in enumerate(_SIGNIFICANCE):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        fig.add_scatter(
            x=[conv[i] for i in idx],
            y=[values[i] for i in idx],
            mode="markers",
            name=name,
            marker={"color": colour, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [100 * table["ci_high"][i] - conv[i] for i in idx],
                "arrayminus": [conv[i] - 100 * table["ci_low"][i] for i in idx],
                "color": _GREY,
            },
            customdata=[
                [fmt_count(table["converted"][i]), fmt_count(table["entered"][i]),
                 fmt_pvalue(table["p_adjusted"][i]), fmt_pct(table["conversion"][i])]
                for i in idx
            ],
            hovertemplate="%{y}: %{customdata[3]} (%{customdata[0]} of %{customdata[1]})"
            "<br>adjusted p %{customdata[2]}<extra></extra>",
        )
    if overall is not None:
        fig.add_vline(
            x=100 * overall, line_dash="dot", line_color=_GREY,
            annotation_text=f"all: {fmt_pct(overall)}", annotation_position="top",
        )
    fig.update_layout(
        xaxis_title="conversion (% of step 1)",
        xaxis_ticksuffix="%",
        yaxis_title=None,
        yaxis={"categoryorder": "array", "categoryarray": values, "autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        showlegend=True,
        legend_orientation="h",
        legend_y=-0.3,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Tables for people (the CSV downloads keep the raw numbers)
# --------------------------------------------------------------------------------------------


def steps_table(result: FunnelResult) -> PeopleTable:
    """The per-step table for people: the step (text), the count, conversion from step 1 and
    from the previous step (percent), drop-offs (count) and median and mean times from the
    previous step (durations); null where a value does not exist (step 1 has no previous)."""
    s = result.steps
    noun = entity_noun(result.count_by)
    first = [k == 0 for k in range(s.height)]
    return PeopleTable.build({
        "Step": ("text", [f"{k}. {lab}" for k, lab in zip(s["step"], s["label"], strict=True)]),
        noun.capitalize(): ("count", s["entities"]),
        "% of step 1": ("percent", s["conversion_from_first"]),
        "% of previous step": ("percent", [None if f else v for f, v in zip(
            first, s["conversion_from_previous"].to_list(), strict=True)]),
        "Dropped off": ("count", [None if f else v for f, v in zip(
            first, s["drop_off"].to_list(), strict=True)]),
        "Median time from previous": ("duration", s["median_seconds_from_previous"]),
        "Mean time from previous": ("duration", s["mean_seconds_from_previous"]),
    })


def breakdown_people_table(table: pl.DataFrame, *, name: str = "Value") -> PeopleTable:
    """:func:`core.funnels.breakdown_table` for people: the value, the significance verdict
    first (text), then conversion and its 95% interval (percent), the difference from the rest
    (pp), p-values (adjusted first), counts; numbers stay numbers so the grid sorts them."""
    if table.is_empty():
        return PeopleTable.build({name: ("text", [])})
    verdict = []
    for sig, diff in zip(table["significant"], table["difference"], strict=True):
        verdict.append(None if diff is None else
                       ("higher" if sig and diff > 0 else "lower" if sig else "no difference"))
    return PeopleTable.build({
        name: ("text", [str(v) for v in table["breakdown"].to_list()]),
        "Significant vs rest": ("text", verdict),
        "Conversion": ("percent", table["conversion"]),
        "95% interval from": ("percent", table["ci_low"]),
        "95% interval to": ("percent", table["ci_high"]),
        "Difference vs rest": ("pp", table["difference"]),
        "Adjusted p": ("pvalue", table["p_adjusted"]),
        "Entered": ("count", table["entered"]),
        "Converted": ("count", table["converted"]),
        "Rest conversion": ("percent", table["rest_conversion"]),
        "p": ("pvalue", table["p_value"]),
    })


def trend_people_table(frame: pl.DataFrame, *, interval: str = "day",
                       earlier: pl.DataFrame | None = None) -> PeopleTable:
    """A conversion trend for people: period (text), conversion and its 95% interval
    (percent), counts, whether the conversion window has closed (text).

    With ``earlier`` (:func:`core.compare.align_earlier` of the earlier window's trend) each row
    also shows the earlier period it is compared with, its conversion and counts (empty where
    the data hold nothing comparable)."""
    fmt = "%Y-%m-%d %H:%M" if interval == "hour" else "%Y-%m-%d"
    columns = {
        "Period (UTC)": ("text", [p.strftime(fmt) for p in frame["period"].to_list()]),
        "Conversion": ("percent", frame["conversion"]),
        "95% interval from": ("percent", frame["ci_low"]),
        "95% interval to": ("percent", frame["ci_high"]),
        "Entered": ("count", frame["entered"]),
        "Converted": ("count", frame["converted"]),
        "Window closed": ("text", ["yes" if c else "not yet" for c in frame["complete"].to_list()]),
    }
    if earlier is not None:
        e = frame.select("period").join(earlier, on="period", how="left", maintain_order="left")
        columns |= {
            "Earlier period (UTC)": ("text", [p.strftime(fmt) if p is not None else None
                                              for p in e["previous_start"].to_list()]),
            "Earlier conversion": ("percent", e["previous_conversion"]),
            "Earlier entered": ("count", e["previous_entered"]),
            "Earlier converted": ("count", e["previous_converted"]),
        }
    return PeopleTable.build(columns)


__all__ = [
    "TREND_DEFINITIONS",
    "breakdown_figure",
    "breakdown_people_table",
    "conversion_over_time_figure",
    "count_axis",
    "funnel_figure",
    "steps_table",
    "time_to_convert_figure",
    "trend_people_table",
    "trend_title",
]
