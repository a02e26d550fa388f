"""Headline numbers, daily trend and event mix of an event log (the Overview page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from core.schema import EVENT_TYPES, property_columns

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


def _revenue_expr() -> pl.Expr:
    return (pl.col("price") * pl.col("quantity").fill_null(1)).filter(
        pl.col("event_type") == "purchase"
    )


def _order_key() -> pl.Expr:
    # exports without order ids: one order per session with a purchase
    return pl.coalesce(pl.col("order_id"), pl.lit("session:") + pl.col("session_id"))


@dataclass(frozen=True)
class OverviewMetrics:
    """Headline numbers of an event log.

    Attributes
    ----------
    events, users, sessions, orders : int
        Counts; ``orders`` are distinct order ids of purchase events (one per session with a
        purchase when the export has no order id).
    revenue : float or None
        Sum of ``price * quantity`` (quantity 1 when unknown) over purchase events; ``None``
        when the data has no prices.
    conversion_rate : float or None
        Share of sessions with a purchase.
    cart_abandonment_rate : float or None
        Share of cart sessions (sessions with an ``add_to_cart``) with no purchase after the
        first cart add, the definition of the cart-abandonment model; ``None`` without carts.
    average_order_value : float or None
        ``revenue / orders``.
    first, last : datetime or None
        Time span of the data.
    reason : str
        Why the numbers are empty, when they are.
    """

    events: int
    users: int
    sessions: int
    orders: int
    revenue: float | None
    conversion_rate: float | None
    cart_abandonment_rate: float | None
    average_order_value: float | None
    first: datetime | None
    last: datetime | None
    reason: str = ""


def overview_metrics(events: pl.DataFrame | pl.LazyFrame) -> OverviewMetrics:
    """Compute the headline numbers of an event log.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (already filtered).

    Returns
    -------
    OverviewMetrics
        All zero/None with a ``reason`` when the table is empty.

    Examples
    --------
    >>> m = overview_metrics(events)  # doctest: +SKIP
    >>> m.conversion_rate  # doctest: +SKIP
    """
    lf = events.lazy()
    has_price = lf.select(pl.col("price").is_not_null().any()).collect().item()
    per_session = lf.group_by("session_id").agg(
        purchase_ts=pl.col("ts").filter(pl.col("event_type") == "purchase").max(),
        cart_ts=pl.col("ts").filter(pl.col("event_type") == "add_to_cart").min(),
    )
    s = per_session.select(
        sessions=pl.len(),
        buying=pl.col("purchase_ts").is_not_null().sum(),
        carts=pl.col("cart_ts").is_not_null().sum(),
        abandoned=(
            pl.col("cart_ts").is_not_null()
            & (pl.col("purchase_ts").is_null() | (pl.col("purchase_ts") < pl.col("cart_ts")))
        ).sum(),
    ).collect()
    totals = lf.select(
        events=pl.len(),
        users=pl.col("user_id").n_unique(),
        orders=_order_key().filter(pl.col("event_type") == "purchase").n_unique(),
        revenue=_revenue_expr().sum(),
        first=pl.col("ts").min(),
        last=pl.col("ts").max(),
    ).collect()
    t = totals.row(0, named=True)
    n_events = int(t["events"])
    if n_events == 0:
        return OverviewMetrics(0, 0, 0, 0, None, None, None, None, None, None,
                               reason="No events match the current dataset and filters.")
    sessions, buying, carts, abandoned = s.row(0)
    orders = int(t["orders"])
    revenue = float(t["revenue"]) if has_price else None
    return OverviewMetrics(
        events=n_events,
        users=int(t["users"]),
        sessions=int(sessions),
        orders=orders,
        revenue=revenue,
        conversion_rate=buying / sessions if sessions else None,
        cart_abandonment_rate=abandoned / carts if carts else None,
        average_order_value=(revenue / orders) if (revenue is not None and orders) else None,
        first=t["first"],
        last=t["last"],
    )


def daily_trend(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per UTC day: ``day``, ``events``, ``users``, ``sessions``, ``orders``, ``revenue``.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.

    Returns
    -------
    pl.DataFrame
        One row per day that has events, sorted by day.
    """
    return (
        events.lazy()
        .group_by(pl.col("ts").dt.date().alias("day"))
        .agg(
            events=pl.len(),
            users=pl.col("user_id").n_unique(),
            sessions=pl.col("session_id").n_unique(),
            orders=_order_key().filter(pl.col("event_type") == "purchase").n_unique(),
            revenue=_revenue_expr().sum(),
        )
        .sort("day")
        .collect()
    )


def event_mix(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Events per canonical type and raw name: ``event_type``, ``event``, ``count``, ``share``."""
    out = (
        events.lazy()
        .group_by("event_type", "event")
        .agg(count=pl.len())
        .with_columns(share=pl.col("count") / pl.col("count").sum())
        .collect()
    )
    order = {t: i for i, t in enumerate(EVENT_TYPES)}
    return out.with_columns(
        pl.col("event_type").replace_strict(order, default=len(order)).alias("_o")
    ).sort(["_o", "count"], descending=[False, True]).drop("_o")


def daily_trend_figure(trend: pl.DataFrame, *, metric: str = "sessions") -> go.Figure:
    """Line chart of one column of :func:`daily_trend` over days."""
    fig = go.Figure(
        go.Scatter(x=trend["day"].to_list(), y=trend[metric].to_list(), mode="lines",
                   line={"color": "#1f77b4"}, name=metric)
    )
    fig.update_layout(title=f"Daily {metric}", margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      height=320, yaxis_title=metric, xaxis_title="day (UTC)")
    return fig


def event_mix_figure(mix: pl.DataFrame) -> go.Figure:
    """Horizontal bars of events per canonical type (coloured by type)."""
    by_type = mix.group_by("event_type").agg(pl.col("count").sum()).sort("count")
    fig = go.Figure(
        go.Bar(
            y=by_type["event_type"].to_list(), x=by_type["count"].to_list(), orientation="h",
            marker_color=[EVENT_COLORS.get(t, "#999") for t in by_type["event_type"]],
        )
    )
    fig.update_layout(title="Event mix", margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=320,
                      xaxis_title="events")
    return fig


@dataclass(frozen=True)
class DatasetInfo:
    """What the controls need to know about a dataset (cheap to compute, cached by the UI).

    Attributes
    ----------
    rows, users : int
    first, last : datetime or None
    event_names : tuple of str
        Raw event names, most frequent first.
    event_types : tuple of str
        Canonical event types present, in funnel order.
    properties : dict
        Filterable columns (canonical optional columns and extra properties) -> up to 50 most
        frequent values (empty tuple for high-cardinality or numeric columns).
    numeric : tuple of str
        Numeric property columns.
    """

    rows: int
    users: int
    first: datetime | None
    last: datetime | None
    event_names: tuple[str, ...]
    event_types: tuple[str, ...]
    properties: dict[str, tuple[str, ...]] = field(default_factory=dict)
    numeric: tuple[str, ...] = ()


def dataset_info(events: pl.DataFrame | pl.LazyFrame, *, max_values: int = 50) -> DatasetInfo:
    """Summarise a dataset for building controls.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    max_values : int, default 50
        Columns with more distinct values than this list none (free-text filters instead).

    Returns
    -------
    DatasetInfo
    """
    lf = events.lazy()
    schema = lf.collect_schema()
    head = lf.select(
        rows=pl.len(), users=pl.col("user_id").n_unique(), first=pl.col("ts").min(),
        last=pl.col("ts").max(),
    ).collect().row(0, named=True)
    names = (
        lf.group_by("event").agg(n=pl.len()).sort(["n", "event"], descending=[True, False])
        .collect()["event"].to_list()
    )
    present = set(lf.select(pl.col("event_type").unique()).collect()["event_type"].to_list())
    types = tuple(t for t in EVENT_TYPES if t in present)
    candidates = ["category", "brand", *property_columns(schema)]
    props: dict[str, tuple[str, ...]] = {}
    numeric = []
    for col in ["price", "quantity", *candidates]:
        if col not in schema:
            continue
        if schema[col].is_numeric():
            numeric.append(col)
            if col in ("price", "quantity"):
                continue
        if col not in candidates:
            continue
        vc = (
            lf.select(pl.col(col).cast(pl.String)).drop_nulls().group_by(col).agg(n=pl.len())
            .sort(["n", col], descending=[True, False]).head(max_values + 1).collect()
        )
        props[col] = tuple(vc[col].to_list()) if vc.height <= max_values else ()
    return DatasetInfo(
        rows=int(head["rows"]), users=int(head["users"]), first=head["first"],
        last=head["last"], event_names=tuple(names), event_types=types, properties=props,
        numeric=tuple(numeric),
    )
