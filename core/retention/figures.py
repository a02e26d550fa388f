"""Retention figures: the cohort triangle as a heatmap and the curves with their mean."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from core.fmt import PALETTE, fmt_pct
from core.retention.engine import RetentionResult

_BLUES = [[0.0, "#f7fbff"], [0.5, "#6baed6"], [1.0, "#08306b"]]


def _period_name(result: RetentionResult) -> str:
    return result.params.period.capitalize()


def _cohort_label(value, period: str) -> str:
    return value.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")


def _people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


def _top_return_rate(cells: pl.DataFrame, column: str = "rate") -> float | None:
    """The highest share of periods 1 onwards (period 0 is 100% by definition: scales set by
    it would make every return rate look alike)."""
    later = cells.filter(pl.col("period") >= 1)
    return None if later.is_empty() else later.get_column(column).max()


def retention_heatmap(result: RetentionResult, *, group: str | None = None) -> go.Figure:
    """The cohort triangle: one row per cohort, one column per period, the share retained as
    colour and text; incomplete cells carry a ``*`` and say so on hover.

    Parameters
    ----------
    result : RetentionResult
    group : str, optional
        Breakdown group to show; the largest when omitted.
    """
    groups = result.groups
    group = group if group is not None else (groups[0] if groups else "All")
    cells = result.cells.filter(pl.col("group") == group)
    name = _period_name(result)
    fig = go.Figure()
    if cells.is_empty():
        fig.update_layout(title="No cohorts: no event matches the start definition")
        return fig
    cohorts = cells.get_column("cohort").unique().sort()
    rows = [_cohort_label(c, result.params.period) for c in cohorts]
    cols = [f"{name} {k}" for k in range(result.params.periods)]
    z = [[None] * len(cols) for _ in rows]
    text = [[""] * len(cols) for _ in rows]
    hover = [[""] * len(cols) for _ in rows]
    index = {c: i for i, c in enumerate(cohorts.to_list())}
    sizes = dict(cells.filter(pl.col("period") == 0).select("cohort", "cohort_size").iter_rows())
    ticks = [f"{label} ({_people(sizes.get(c, 0))})" for label, c in zip(rows, cohorts, strict=True)]
    top = _top_return_rate(cells)
    zmax = 1.0 if not top else min(1.0, max(top, 0.05))
    for r in cells.iter_rows(named=True):
        i, k = index[r["cohort"]], r["period"]
        z[i][k] = r["rate"]
        mark = "" if r["complete"] else "*"
        text[i][k] = fmt_pct(r["rate"], digits=0) + mark
        hover[i][k] = (
            f"cohort {rows[i]} ({r['cohort_size']:,} people)<br>{cols[k]}: "
            f"{r['retained']:,} retained = {fmt_pct(r['rate'])}"
            + ("" if r["complete"] else "<br>period not over yet: may still rise")
        )
    fig.add_trace(
        go.Heatmap(
            z=z, x=cols, y=rows, text=text, texttemplate="%{text}", customdata=hover,
            hovertemplate="%{customdata}<extra></extra>", colorscale=_BLUES, zmin=0, zmax=zmax,
            colorbar={"title": "retained", "tickformat": ".0%"}, xgap=1, ygap=1,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", tickvals=rows, ticktext=ticks,
                     title="cohort (first " + result.params.label("start") + ")")
    fig.update_xaxes(side="top", title=None)
    fig.update_layout(height=max(320, 28 * len(rows) + 140), margin={"t": 60})
    return fig


def retention_curves_figure(result: RetentionResult, *, group: str | None = None) -> go.Figure:
    """Retention curves: one thin line per cohort and the pooled mean with its 95% interval.

    Incomplete cells are drawn as open markers; the mean uses complete cells only. Period 0
    (100% by definition) is left out so that the y axis spans the return rates.
    """
    groups = result.groups
    group = group if group is not None else (groups[0] if groups else "All")
    cells = result.cells.filter((pl.col("group") == group) & (pl.col("period") >= 1))
    mean = result.mean.filter((pl.col("group") == group) & (pl.col("period") >= 1))
    name = _period_name(result)
    fig = go.Figure()
    for cohort, part in cells.group_by("cohort", maintain_order=True):
        label = _cohort_label(cohort[0], result.params.period)
        fig.add_trace(
            go.Scatter(
                x=part.get_column("period"), y=part.get_column("rate"), mode="lines+markers",
                name=label, line={"width": 1, "color": "#9ecae1"}, opacity=0.7,
                marker={"symbol": ["circle" if c else "circle-open" for c in part["complete"]]},
                legendgroup="cohorts", showlegend=False,
                hovertemplate=f"cohort {label}<br>{name} %{{x}}: %{{y:.1%}}<extra></extra>",
            )
        )
    if not mean.is_empty():
        x = mean.get_column("period").to_list()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=mean["ci_high"].to_list()
                                 + mean["ci_low"].to_list()[::-1], fill="toself",
                                 fillcolor="rgba(31,119,180,0.15)", line={"width": 0}, mode="lines",
                                 name="95% interval", hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=x, y=mean.get_column("rate"), mode="lines+markers", name="mean of cohorts",
            line={"width": 3, "color": PALETTE[0]}, customdata=mean.select("retained", "people"),
            hovertemplate=(f"{name} %{{x}}: %{{y:.1%}} (%{{customdata[0]:,}} of "
                           "%{customdata[1]:,} people)<extra></extra>"),
        ))
    fig.update_xaxes(title=f"{name}s after the cohort's {result.params.period}", dtick=1)
    top = max([v for v in (_top_return_rate(cells), _top_return_rate(mean, "ci_high")) if v]
              or [1 / 1.15])
    fig.update_yaxes(title="retained", tickformat=".0%", range=[0, min(1.02, 1.15 * top)])
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.2})
    return fig
