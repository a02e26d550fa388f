"""Headline numbers, daily trend and event mix of an event log (the Overview page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import plotly.graph_objects as go
import polars as pl

from core.errors import ParameterError
from core.fmt import (
    GRAINS,
    PeopleTable,
    count_axis,
    fmt_count,
    fmt_money,
    fmt_pct,
    fmt_pp,
    grain_for_span,
)
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
        .agg(**_trend_aggs())
        .sort("day")
        .collect()
    )


def _trend_aggs() -> dict[str, pl.Expr]:
    """The per-period counts of :func:`daily_trend` and :func:`activity_trend`."""
    return {
        "events": pl.len(),
        "users": pl.col("user_id").n_unique(),
        "sessions": pl.col("session_id").n_unique(),
        "orders": _order_key().filter(pl.col("event_type") == "purchase").n_unique(),
        "revenue": _revenue_expr().sum(),
    }


_TRUNCATE: Final[dict[str, str]] = {"hour": "1h", "day": "1d", "week": "1w"}
#: The trend metrics and their axis titles.
TREND_METRICS: Final[dict[str, str]] = {
    "sessions": "sessions",
    "users": "users",
    "orders": "orders",
    "revenue": "revenue",
    "events": "events",
}


def activity_trend(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    grain: str = "auto",
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.DataFrame:
    """Per period: ``period`` (Datetime UTC, start), ``events``, ``users``, ``sessions``,
    ``orders``, ``revenue``, ``complete``.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    grain : {"auto", "hour", "day", "week"}
        ``auto`` picks from the span of the data (:func:`core.fmt.grain_for_span`): hours for
        up to two days, days up to 120, else weeks (from Monday).
    start, end : datetime, optional
        The time range the data were cut to (a date filter): a period is complete when the
        data cover it from its start to its end. Default: the first and last event, with a
        tolerance of 1/24 of the period (a daily export ending at 23:30 is a whole day).

    Returns
    -------
    pl.DataFrame
        One row per period with events, sorted. ``complete`` is false for a first or last
        period the data cover only in part, so it is not read as a drop.

    Raises
    ------
    ParameterError
        ``grain`` is not one of the above.
    """
    lf = events.lazy()
    span = lf.select(first=pl.col("ts").min(), last=pl.col("ts").max()).collect().row(0)
    first, last = span
    if grain == "auto":
        grain = grain_for_span(last - first if first is not None else None)
    if grain not in GRAINS:
        raise ParameterError(f"`grain` must be 'auto' or one of {list(GRAINS)}, got {grain!r}")
    length = GRAINS[grain]
    slack = length / 24
    covered_from = start if start is not None else first
    covered_to = end if end is not None else (last + slack if last is not None else None)
    out = (
        lf.group_by(pl.col("ts").dt.truncate(_TRUNCATE[grain]).alias("period"))
        .agg(**_trend_aggs())
        .sort("period")
        .collect()
    )
    if out.is_empty() or covered_from is None:
        return out.with_columns(complete=pl.lit(True))
    complete = (pl.col("period") + length <= pl.lit(covered_to)) & (
        pl.col("period") >= pl.lit(covered_from) - slack
    )
    return out.with_columns(complete.alias("complete"))


def detect_currency(events: pl.DataFrame | pl.LazyFrame) -> tuple[str | None, tuple[str, ...]]:
    """The currency of the prices, from a ``currency`` column of the export when it has one.

    Looks for a property column named ``currency``, ``currency_code`` or ending in
    ``.currency`` / ``_currency`` (GA4's ``ecommerce.currency``), any case.

    Returns
    -------
    (code, found)
        ``code``: the single currency of the purchase events (upper case), ``None`` when there
        is no such column or the purchases mix currencies; ``found``: every currency seen on
        purchases, most frequent first (to report a mix).
    """
    lf = events.lazy()
    cols = [
        c for c in lf.collect_schema()
        if c.lower() in ("currency", "currency_code")
        or c.lower().endswith((".currency", "_currency"))
    ]
    if not cols:
        return None, ()
    found = (
        lf.filter(pl.col("event_type") == "purchase")
        .select(pl.col(cols[0]).cast(pl.String).str.strip_chars().str.to_uppercase().alias("c"))
        .filter(pl.col("c").is_not_null() & (pl.col("c") != ""))
        .group_by("c").agg(n=pl.len())
        .sort(["n", "c"], descending=[True, False])
        .collect()["c"].to_list()
    )
    return (found[0] if len(found) == 1 else None), tuple(found)


@dataclass(frozen=True)
class PeriodComparison:
    """Headline numbers of a period and of the period of equal length just before it.

    Attributes
    ----------
    current, previous : OverviewMetrics
        ``previous`` has ``events == 0`` (and a reason) when the data hold nothing before.
    start, end : datetime
        The current period, ``[start, end)``.
    previous_start : datetime
        Start of the previous period, ``[previous_start, start)``.
    """

    current: OverviewMetrics
    previous: OverviewMetrics
    start: datetime
    end: datetime
    previous_start: datetime

    @property
    def label(self) -> str:
        """The compared period in words: ``"vs 2024-01-01 – 2024-01-14"``."""
        day = timedelta(days=1)
        whole_days = (self.end - self.start) % day == timedelta(0) and (
            self.start.hour, self.start.minute, self.start.second, self.start.microsecond
        ) == (0, 0, 0, 0)
        if whole_days:
            return f"vs {self.previous_start:%Y-%m-%d} – {self.start - day:%Y-%m-%d}"
        return f"vs {self.previous_start:%Y-%m-%d %H:%M} – {self.start:%Y-%m-%d %H:%M}"

    def change(self, name: str) -> float | None:
        """Change of a headline number against the previous period: relative (0.1 = +10%)
        for counts and money, absolute (a difference of fractions) for rates; ``None`` when
        either period lacks the number or the previous one is zero."""
        now, before = getattr(self.current, name), getattr(self.previous, name)
        if now is None or before is None or self.previous.events == 0:
            return None
        if name.endswith("_rate"):
            return float(now) - float(before)
        return None if before == 0 else (float(now) - float(before)) / float(before)


def compare_with_previous(
    events: pl.DataFrame | pl.LazyFrame, *, start: datetime, end: datetime
) -> PeriodComparison:
    """Headline numbers of ``[start, end)`` and of the period of equal length before it.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table with the property filters applied but not the date range (the
        previous period lies outside it).
    start, end : datetime
        The current period (UTC), ``start < end``.

    Raises
    ------
    ParameterError
        ``end`` is not after ``start``.
    """
    if not end > start:
        raise ParameterError(f"the period must end after it starts, got {start} to {end}")
    lf = events.lazy()
    before = start - (end - start)
    ts = pl.col("ts")
    return PeriodComparison(
        current=overview_metrics(lf.filter((ts >= start) & (ts < end))),
        previous=overview_metrics(lf.filter((ts >= before) & (ts < start))),
        start=start,
        end=end,
        previous_start=before,
    )


def headline_tiles(
    cmp: PeriodComparison, *, currency: str | None = None
) -> list[tuple[str, str, str | None, str]]:
    """The Overview tiles as ``(label, value, delta, help)``; ``delta`` is ``None`` without a
    previous period to compare with. Counts and money change in %, rates in points."""
    m = cmp.current

    def delta(name: str) -> str | None:
        c = cmp.change(name)
        if c is None:
            return None
        return fmt_pp(c) if name.endswith("_rate") else fmt_pct(c, signed=True)

    money = f"Revenue ({currency})" if currency else "Revenue"
    aov = f"Average order value ({currency})" if currency else "Average order value"
    return [
        ("Users", fmt_count(m.users), delta("users"), ""),
        ("Sessions", fmt_count(m.sessions), delta("sessions"), ""),
        ("Orders", fmt_count(m.orders), delta("orders"), ""),
        (money, fmt_money(m.revenue), delta("revenue"),
         "Sum of price × quantity over purchases."),
        ("Conversion rate", fmt_pct(m.conversion_rate), delta("conversion_rate"),
         "Sessions with a purchase."),
        ("Cart abandonment", fmt_pct(m.cart_abandonment_rate), delta("cart_abandonment_rate"),
         "Sessions with an add-to-cart and no purchase after it."),
        (aov, fmt_money(m.average_order_value), delta("average_order_value"), ""),
        ("Events", fmt_count(m.events), delta("events"), ""),
    ]


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


def daily_trend_figure(
    trend: pl.DataFrame, *, metric: str = "sessions", currency: str | None = None
) -> go.Figure:
    """Line chart of one column of :func:`activity_trend` (or :func:`daily_trend`) over time.

    Complete periods are joined by a solid line; a partly covered first or last period is
    drawn as a lone open marker named as incomplete in the legend (not joined: no cliff). Count axes tick in whole
    numbers."""
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
    per = {"hour": "Hourly", "day": "Daily", "week": "Weekly"}[grain]
    fig.update_layout(
        title=f"{per} {word}", margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=360,
        xaxis_title=f"{grain} (UTC)" if grain != "week" else "week from Monday (UTC)",
        showlegend=True, legend_orientation="h", legend_y=-0.32,
    )
    if metric == "revenue":
        fig.update_yaxes(title_text=word, rangemode="tozero", tickformat=",.2~f")
    else:
        fig.update_layout(yaxis=count_axis(max(y, default=0)))
        fig.update_yaxes(title_text=word)
    if grain == "hour":
        fig.update_xaxes(tickformat="%H:%M\n%b %d")
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


#: Cells (rows x columns) of one long (column, value) table counted in one query by
#: :func:`dataset_info`: a 2-row table of 10,000 columns is one query, a tall one a few columns
#: per query (the long table holds every cell of its columns as text).
INFO_BATCH_CELLS: Final = 4_000_000


def dataset_info(events: pl.DataFrame | pl.LazyFrame, *, max_values: int = 50) -> DatasetInfo:
    """Summarise a dataset for building controls.

    The work is a fixed number of Polars queries whatever the number of columns: one for the
    counts, the event names and the event types, and one per batch of property columns
    (``rows x columns`` up to :data:`INFO_BATCH_CELLS`), whose values are counted in one long
    ``(column, value)`` table. A 2-row table with 10,000 property columns is two queries
    (one per column took 70 s).

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    max_values : int, default 50
        Columns with more distinct values than this list none (free-text filters instead).

    Returns
    -------
    DatasetInfo
        ``properties`` lists, per column, its values as text, most frequent first (ties in
        text order), nulls left out.

    Raises
    ------
    ParameterError
        If ``max_values`` is not a positive integer.

    Examples
    --------
    >>> from tests.builders import make_events  # doctest: +SKIP
    >>> dataset_info(make_events({"u1": [("view_item", "00:00")]})).event_types  # doctest: +SKIP
    ('view_item',)
    """
    if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 1:
        raise ParameterError(f"`max_values` must be a positive integer, got {max_values!r}")
    lf = events.lazy()
    schema = lf.collect_schema()
    names = pl.col("event").drop_nulls().value_counts(name="n").implode().list.eval(
        _by_count("event", None).struct.field("event")
    )
    head = lf.select(
        rows=pl.len(), users=pl.col("user_id").n_unique(), first=pl.col("ts").min(),
        last=pl.col("ts").max(), names=names,
        types=pl.col("event_type").drop_nulls().unique().implode(),
    ).collect().row(0, named=True)
    present = set(head["types"])
    types = tuple(t for t in EVENT_TYPES if t in present)
    candidates = [c for c in ("category", "brand", *property_columns(schema)) if c in schema]
    numeric = [c for c in ("price", "quantity", *candidates) if c in schema
               and schema[c].is_numeric()]
    values = _property_values(lf, candidates, int(head["rows"]), max_values)
    props = {c: tuple(values.get(c, ())) if len(values.get(c, ())) <= max_values else ()
             for c in candidates}
    return DatasetInfo(
        rows=int(head["rows"]), users=int(head["users"]), first=head["first"],
        last=head["last"], event_names=tuple(head["names"]), event_types=types,
        properties=props, numeric=tuple(numeric),
    )


def _by_count(value: str, limit: int | None) -> pl.Expr:
    """Inside ``list.eval`` over ``value_counts`` structs: most frequent first, ties by value."""
    e = pl.element()
    out = e.sort_by([e.struct.field("n"), e.struct.field(value)], descending=[True, False])
    return out if limit is None else out.head(limit)


def _property_values(
    lf: pl.LazyFrame, columns: list[str], rows: int, max_values: int
) -> dict[str, list[str]]:
    """Up to ``max_values + 1`` most frequent values (as text) of each column, batched."""
    out: dict[str, list[str]] = {}
    per_batch = max(1, INFO_BATCH_CELLS // max(rows, 1))
    for i in range(0, len(columns), per_batch):
        batch = columns[i:i + per_batch]
        counts = (
            lf.select([pl.col(c).cast(pl.String) for c in batch])
            .unpivot(variable_name="column", value_name="value")
            .drop_nulls("value")
            .group_by("column", "value").agg(n=pl.len())
            .sort(["column", "n", "value"], descending=[False, True, False])
            .group_by("column", maintain_order=True).agg(pl.col("value").head(max_values + 1))
            .collect()
        )
        out.update(zip(counts["column"].to_list(), counts["value"].to_list(), strict=True))
    return out
