"""Headline numbers of an event log and the comparison with the period before (Overview tiles)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from core.errors import ParameterError
from core.fmt import fmt_count, fmt_money, fmt_pct, fmt_pp


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
