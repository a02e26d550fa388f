"""Activity over time (per hour, day or week, with incomplete periods marked) and event mix."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import polars as pl

from core.errors import ParameterError
from core.fmt import GRAINS, grain_for_span
from core.overview.metrics import _order_key, _revenue_expr
from core.schema import EVENT_TYPES


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
