"""The Overview page on Spark: headline numbers, activity trend, event mix and currency.

Each partition (hashed by ``user_id``) sends back its sums: events, users, sessions, sessions
with a purchase, cart sessions and abandoned ones, orders, revenue, whether a price is known,
its first and last event; the trend counts per hour, day and week (a year of hours is 8,760
rows); the events per event type and name; the currencies of its purchases. The driver adds
them up and builds what :func:`core.overview_metrics`, :func:`core.activity_trend` (without a
comparison), :func:`core.event_mix` and :func:`core.detect_currency` return on one machine.

Distinct counts add up because what they count never spans partitions: a user's events are all
in one partition, and so are a session's and an order's, since a session is a visit of one user
(the loader builds sessions per user) and an order is placed by one user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import polars as pl

from core.compare import Against, ComparisonWindow, align_earlier, comparison_window
from core.errors import ParameterError
from core.fmt import GRAINS, grain_for_span
from core.overview import (
    TREND_METRICS,
    OverviewMetrics,
    PeriodComparison,
    detect_currency,
    event_mix,
    overview_metrics,
)
from core.overview.metrics import _order_key, _revenue_expr
from core.overview.trend import _TICK, _TRUNCATE, _complete_first, _trend_aggs
from core.schema import EVENT_TYPES
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["SparkOverview", "overview_spark"]


@dataclass(frozen=True)
class SparkOverview:
    """What the Overview page shows, computed on Spark.

    Attributes
    ----------
    metrics : OverviewMetrics
    trend : pl.DataFrame
        As :func:`core.activity_trend` without ``against``.
    mix : pl.DataFrame
        As :func:`core.event_mix`.
    currency, found
        As :func:`core.detect_currency`.
    comparison : PeriodComparison or None
        With ``against``: as :func:`core.compare_periods` over the trend's window.
    """

    metrics: OverviewMetrics
    trend: pl.DataFrame
    mix: pl.DataFrame
    currency: str | None
    found: tuple[str, ...]
    comparison: PeriodComparison | None = None


def _sums(frame: pl.DataFrame) -> pl.DataFrame:
    sessions = frame.group_by("session_id").agg(
        purchase_ts=pl.col("ts").filter(pl.col("event_type") == "purchase").max(),
        cart_ts=pl.col("ts").filter(pl.col("event_type") == "add_to_cart").min(),
    ).select(
        sessions=pl.len().cast(pl.Int64),
        buying=pl.col("purchase_ts").is_not_null().sum().cast(pl.Int64),
        carts=pl.col("cart_ts").is_not_null().sum().cast(pl.Int64),
        abandoned=(pl.col("cart_ts").is_not_null() & (
            pl.col("purchase_ts").is_null() | (pl.col("purchase_ts") < pl.col("cart_ts"))
        )).sum().cast(pl.Int64),
    )
    totals = frame.select(
        events=pl.len().cast(pl.Int64), users=pl.col("user_id").n_unique().cast(pl.Int64),
        orders=_order_key().filter(pl.col("event_type") == "purchase").n_unique().cast(pl.Int64),
        revenue=_revenue_expr().sum().cast(pl.Float64),
        priced=pl.col("price").is_not_null().any(),
        first=pl.col("ts").min(), last=pl.col("ts").max(),
    )
    return pl.concat([totals, sessions], how="horizontal")


def _overview_partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    out = {"sums": _sums(frame), "mix": frame.group_by("event_type", "event").agg(
        count=pl.len())}
    for grain, every in _TRUNCATE.items():
        out[grain] = frame.group_by(pl.col("ts").dt.truncate(every).alias("period")).agg(
            **_trend_aggs())
    _, found = detect_currency(frame)
    # every currency of this partition's purchases with its count (detect_currency ranks them)
    if found:
        column = _currency_column(frame)
        out["currency"] = (
            frame.filter(pl.col("event_type") == "purchase")
            .select(pl.col(column).cast(pl.String).str.strip_chars().str.to_uppercase().alias("c"))
            .filter(pl.col("c").is_not_null() & (pl.col("c") != ""))
            .group_by("c").agg(n=pl.len().cast(pl.Int64))
        )
    return out


def _currency_column(frame: pl.DataFrame) -> str:
    return next(c for c in frame.columns if c.lower() in ("currency", "currency_code")
                or c.lower().endswith((".currency", "_currency")))


def _metrics(sums: pl.DataFrame) -> OverviewMetrics:
    t = sums.select(pl.exclude("first", "last", "priced").sum(), pl.col("first").min(),
                    pl.col("last").max(), pl.col("priced").any()).row(0, named=True)
    revenue = float(t["revenue"]) if t["priced"] else None
    orders, sessions, carts = int(t["orders"]), int(t["sessions"]), int(t["carts"])
    return OverviewMetrics(
        events=int(t["events"]), users=int(t["users"]), sessions=sessions, orders=orders,
        revenue=revenue,
        conversion_rate=t["buying"] / sessions if sessions else None,
        cart_abandonment_rate=t["abandoned"] / carts if carts else None,
        average_order_value=(revenue / orders) if (revenue is not None and orders) else None,
        first=t["first"], last=t["last"],
    )


def _with_complete(out: pl.DataFrame, metrics: OverviewMetrics, grain: str,
                   start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """:func:`core.activity_trend`'s ``complete`` column (and column order) on the counts."""
    length = GRAINS[grain]
    slack = length / 24
    covered_from = start if start is not None else metrics.first
    covered_to = end if end is not None else (metrics.last + slack if metrics.last else None)
    if out.is_empty() or covered_from is None:
        return _complete_first(out.with_columns(complete=pl.lit(True)))
    complete = (pl.col("period") + length <= pl.lit(covered_to)) & (
        pl.col("period") >= pl.lit(covered_from) - slack)
    return _complete_first(out.with_columns(complete.alias("complete")))


def _compared(now: pl.DataFrame, before: pl.DataFrame, window: ComparisonWindow,
              grain: str) -> pl.DataFrame:
    """Per period of ``window``: the current counts and the earlier period's ones (the join of
    ``core.overview.trend._compared``, from counts instead of events)."""
    aligned = align_earlier(before, window, grain=grain)
    covered = pl.col("previous_covered")
    # an earlier period the data cover but without events counts zero; an uncovered one: null
    previous = aligned.select(
        "period", "previous_start",
        *(pl.when(covered).then(pl.col(f"previous_{m}").fill_null(0)).alias(f"previous_{m}")
          for m in TREND_METRICS),
        "previous_complete",
    )
    counts = [c for c in now.columns if c != "period"]
    return (previous.select("period").join(now, on="period", how="left")
            .with_columns(pl.col(c).fill_null(0) for c in counts)
            .join(previous, on="period", how="left").sort("period"))


def _counts(source: Any, grain: str, partitions: int) -> tuple[pl.DataFrame, OverviewMetrics]:
    """The per-period counts at ``grain`` and the headline numbers of ``source``."""
    parts = map_partitions(source, partial(_overview_partition), key="user_id",
                           partitions=partitions)
    if not parts:
        empty = empty_partition(source)
        counts = empty.group_by(pl.col("ts").dt.truncate(_TRUNCATE[grain]).alias("period")).agg(
            **_trend_aggs())
        return counts, overview_metrics(empty)
    counts = pl.concat([p[grain] for p in parts]).group_by("period").agg(
        pl.exclude("period").sum()).sort("period")
    return counts, _metrics(pl.concat([p["sums"] for p in parts]))


def _against(events: Any, earlier: Any, metrics: OverviewMetrics, now: pl.DataFrame, *,
             grain: str, start: datetime | None, end: datetime | None, against: Against,
             partitions: int) -> tuple[pl.DataFrame, PeriodComparison]:
    """The trend's counts with the earlier window's, and the tiles' comparison."""
    from core.spark.views import span_spark, within

    earlier = earlier if earlier is not None else events
    lo = start if start is not None else metrics.first
    hi = end if end is not None else metrics.last + _TICK  # type: ignore[operator]
    window = comparison_window(lo, hi, against=against, span=span_spark(earlier))  # type: ignore[arg-type]
    before, _ = _counts(within(earlier, window.earlier_filter(grain=grain)), grain, partitions)
    _, previous = _counts(within(earlier, window.earlier_filter()), grain, partitions)
    comparison = PeriodComparison(current=metrics, previous=previous, start=lo, end=hi,
                                  previous_start=window.earlier_start, window=window)
    # every event of the view lies in the window [lo, hi): its counts are the current ones
    return _compared(now, before, window, grain), comparison


def _mix(tables: list[pl.DataFrame]) -> pl.DataFrame:
    # the partitions' counts are of pl.len()'s type, and so is their sum (as in event_mix)
    out = (pl.concat(tables).group_by("event_type", "event").agg(pl.col("count").sum())
           .with_columns(share=pl.col("count") / pl.col("count").sum()))
    order = {t: i for i, t in enumerate(EVENT_TYPES)}
    return out.with_columns(
        pl.col("event_type").replace_strict(order, default=len(order)).alias("_o")
    ).sort(["_o", "count"], descending=[False, True]).drop("_o")


def _currency(parts: list[dict[str, pl.DataFrame]]) -> tuple[str | None, tuple[str, ...]]:
    tables = [p["currency"] for p in parts if "currency" in p]
    if not tables:
        return None, ()
    found = (pl.concat(tables).group_by("c").agg(pl.col("n").sum())
             .sort(["n", "c"], descending=[True, False])["c"].to_list())
    return (found[0] if len(found) == 1 else None), tuple(found)


def overview_spark(
    source: Any,
    *,
    grain: str = "auto",
    start: datetime | None = None,
    end: datetime | None = None,
    against: Against | None = None,
    earlier_events: Any = None,
    spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> SparkOverview:
    """The Overview page's numbers of the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        Canonical events (a :func:`core.spark.views.view_events` source for a filtered view).
    grain, start, end, against
        As in :func:`core.activity_trend`.
    earlier_events : str, pyspark.sql.DataFrame or EventSource, optional
        As in :func:`core.activity_trend`: the events with the property filters but not the
        date range (default ``source``).
    spark : SparkSession, optional
    partitions : int, default 8
        Hash partitions by ``user_id``.

    Returns
    -------
    SparkOverview
        ``metrics`` equal to ``overview_metrics(events)``, ``trend`` to ``activity_trend(events,
        grain=grain, start=start, end=end, against=against, earlier_events=...)``, ``mix`` to
        ``event_mix(events)``, ``currency`` and ``found`` to ``detect_currency(events)``; with
        ``against``, ``comparison`` to ``compare_periods(earlier_events, start=..., end=...,
        against=against)`` over the trend's window.

    Raises
    ------
    ParameterError
        ``grain`` is not ``"auto"`` or one of hour, day, week; ``against`` is not a choice.
    """
    from core.spark.session import get_session

    if grain != "auto" and grain not in GRAINS:
        raise ParameterError(f"`grain` must be 'auto' or one of {list(GRAINS)}, got {grain!r}")
    spark = spark or get_session()
    events = read_events(spark, source)
    parts = map_partitions(events, partial(_overview_partition), key="user_id",
                           partitions=partitions)
    if not parts:
        empty = empty_partition(events)
        return SparkOverview(overview_metrics(empty), pl.DataFrame(), event_mix(empty),
                             *detect_currency(empty))
    metrics = _metrics(pl.concat([p["sums"] for p in parts]))
    if grain == "auto":
        grain = grain_for_span(metrics.last - metrics.first if metrics.first else None)
    counts = pl.concat([p[grain] for p in parts]).group_by("period").agg(
        pl.exclude("period").sum()).sort("period")
    comparison = None
    if against is not None:
        earlier = read_events(spark, earlier_events) if earlier_events is not None else None
        counts, comparison = _against(events, earlier, metrics, counts, grain=grain,
                                      start=start, end=end, against=against,
                                      partitions=partitions)
    return SparkOverview(metrics, _with_complete(counts, metrics, grain, start, end),
                         _mix([p["mix"] for p in parts]), *_currency(parts), comparison)
