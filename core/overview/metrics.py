"""Headline numbers of an event log and the comparison with the period before (Overview tiles)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from core.compare import Against, ComparisonWindow, comparison_window
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
    """Headline numbers of a period and of the earlier period it is compared with.

    Attributes
    ----------
    current, previous : OverviewMetrics
        ``previous`` (the earlier period's numbers) has ``events == 0`` (and a reason) when
        the data hold nothing from it.
    start, end : datetime
        The current period, ``[start, end)``.
    previous_start : datetime
        Start of the earlier period.
    window : ComparisonWindow or None
        The earlier period (``window.earlier_start``, ``window.earlier_end``), its label and
        how much of it the data cover (:func:`core.compare.comparison_window`). ``None`` only
        for a comparison built by hand: the earlier period is then ``[previous_start, start)``.
    """

    current: OverviewMetrics
    previous: OverviewMetrics
    start: datetime
    end: datetime
    previous_start: datetime
    window: ComparisonWindow | None = None

    @property
    def comparable(self) -> bool:
        """Whether a change means something: the data hold the earlier period and cover it
        fully (a partly covered one would show a misleading change)."""
        return self.previous.events > 0 and (self.window is None or self.window.comparable)

    @property
    def note(self) -> str:
        """Why no change is shown, in words (``""`` when changes are shown)."""
        if self.comparable:
            return ""
        if self.window is not None and self.window.coverage_note:
            return self.window.coverage_note
        return "No comparison: the data hold no events from the earlier period."

    @property
    def label(self) -> str:
        """The compared period in words: ``"vs the previous 14 days (2024-01-01 –
        2024-01-14)"`` or ``"vs the same dates a year earlier (2023-01-15 – 2023-01-28)"``."""
        if self.window is not None:
            return self.window.label
        day = timedelta(days=1)
        whole_days = (self.end - self.start) % day == timedelta(0) and (
            self.start.hour, self.start.minute, self.start.second, self.start.microsecond
        ) == (0, 0, 0, 0)
        if whole_days:
            return f"vs {self.previous_start:%Y-%m-%d} – {self.start - day:%Y-%m-%d}"
        return f"vs {self.previous_start:%Y-%m-%d %H:%M} – {self.start:%Y-%m-%d %H:%M}"

    def change(self, name: str) -> float | None:
        """Change of a headline number against the earlier period: relative (0.1 = +10%)
        for counts and money, absolute (a difference of fractions) for rates; ``None`` when
        either period lacks the number, the earlier one is zero, or the comparison is not
        :attr:`comparable` (the data cover the earlier period only in part)."""
        now, before = getattr(self.current, name), getattr(self.previous, name)
        if now is None or before is None or not self.comparable:
            return None
        if name.endswith("_rate"):
            return float(now) - float(before)
        return None if before == 0 else (float(now) - float(before)) / float(before)


def compare_periods(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    start: datetime,
    end: datetime,
    against: Against = "previous",
) -> PeriodComparison:
    """Headline numbers of ``[start, end)`` and of the earlier period it is compared with.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table with the property filters applied but not the date range (the
        earlier period lies outside it). Its first and last event tell how much of the
        earlier period the data cover.
    start, end : datetime
        The current period (UTC), ``start < end``.
    against : {"previous", "year"}
        ``"previous"``: the period of equal length just before; ``"year"``: the same dates a
        year earlier (29 February -> 28 February), see :func:`core.compare.comparison_window`.

    Returns
    -------
    PeriodComparison
        ``change()`` is ``None`` and ``note`` says why when the data cover the earlier period
        only in part or not at all.

    Raises
    ------
    ParameterError
        ``end`` is not after ``start``, or ``against`` is not one of the above.
    """
    lf = events.lazy()
    window = comparison_window(start, end, against=against, events=lf)
    return PeriodComparison(
        current=overview_metrics(lf.filter(window.current_filter())),
        previous=overview_metrics(lf.filter(window.earlier_filter())),
        start=start,
        end=end,
        previous_start=window.earlier_start,
        window=window,
    )


def compare_with_previous(
    events: pl.DataFrame | pl.LazyFrame, *, start: datetime, end: datetime
) -> PeriodComparison:
    """Headline numbers of ``[start, end)`` and of the period of equal length before it:
    :func:`compare_periods` with ``against="previous"``."""
    return compare_periods(events, start=start, end=end, against="previous")


def headline_tiles(
    cmp: PeriodComparison, *, currency: str | None = None
) -> list[tuple[str, str, str | None, str]]:
    """The Overview tiles as ``(label, value, delta, help)``.

    ``delta`` names what it compares with (``"+12.0% vs previous 31 days"``, ``"-1.5 pp vs a
    year earlier"``) and is ``None`` when there is nothing comparable (no earlier data, or data
    that cover the earlier period only in part: the help then says why). Counts and money
    change in %, rates in points; the sign leads, so Streamlit colours it."""
    m = cmp.current
    short = cmp.window.short_label if cmp.window is not None else cmp.label

    def delta(name: str) -> str | None:
        c = cmp.change(name)
        if c is None:
            return None
        return (fmt_pp(c) if name.endswith("_rate") else fmt_pct(c, signed=True)) + " " + short

    money = f"Revenue ({currency})" if currency else "Revenue"
    aov = f"Average order value ({currency})" if currency else "Average order value"
    tail = (f"Change {cmp.label}." if cmp.comparable else cmp.note)

    def help_(text: str) -> str:
        return f"{text} {tail}".strip()

    tiles = [
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
    return [(label, value, d, help_(text)) for label, value, d, text in tiles]
