"""Activity over time (per hour, day or week, with incomplete periods marked) and event mix."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import polars as pl

from core.compare import Against, ComparisonWindow, align_earlier, comparison_window
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
_TICK: Final = timedelta(microseconds=1)
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
    against: Against | None = None,
    earlier_events: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """Per period: ``period`` (Datetime UTC, start), ``events``, ``users``, ``sessions``,
    ``orders``, ``revenue``, ``complete``; with ``against``, the same numbers over an earlier
    window period by period.

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
    against : {"previous", "year"}, optional
        Add the comparison series: the window ``[start, end)`` (default: the first event to
        just after the last) is compared with the period of equal length before it or the
        same dates a year earlier (:func:`core.compare.comparison_window`), period *i* against
        period *i* (:func:`core.compare.counterpart_periods`).
    earlier_events : pl.DataFrame or pl.LazyFrame, optional
        Where the earlier window's events come from: the table with the property filters
        applied but not the date range (``events`` itself when not given, which then holds
        nothing before ``start`` if it was cut to the date range). Its first and last event
        tell which earlier periods the data cover.

    Returns
    -------
    pl.DataFrame
        One row per period with events, sorted. ``complete`` is false for a first or last
        period the data cover only in part, so it is not read as a drop. With ``against``:
        one row per period of the window (periods without events count zero), plus
        ``previous_start`` (the earlier period compared with), ``previous_<metric>`` for each
        of :data:`TREND_METRICS` (zero for an earlier period the data cover without events,
        null for one they do not cover at all) and ``previous_complete`` (the data cover the
        earlier period whole). Earlier periods are counted whole, so the first and last may
        hold events just outside the earlier window of the tiles.

    Raises
    ------
    ParameterError
        ``grain`` or ``against`` is not one of the above, or ``end`` is not after ``start``.
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
    if against is not None:
        window_end = end if end is not None else (last + _TICK if last is not None else None)
        out = _with_comparison(out, lf, start if start is not None else first, window_end,
                               against=against, earlier_events=earlier_events, grain=grain)
    if out.is_empty() or covered_from is None:
        return _complete_first(out.with_columns(complete=pl.lit(True)))
    complete = (pl.col("period") + length <= pl.lit(covered_to)) & (
        pl.col("period") >= pl.lit(covered_from) - slack
    )
    return _complete_first(out.with_columns(complete.alias("complete")))


def _complete_first(trend: pl.DataFrame) -> pl.DataFrame:
    """The current period's columns, then the comparison's (``previous_*``)."""
    previous = [c for c in trend.columns if c.startswith("previous_")]
    return trend.select(pl.exclude(previous), *previous)


def _with_comparison(
    out: pl.DataFrame,
    lf: pl.LazyFrame,
    start: datetime | None,
    end: datetime | None,
    *,
    against: Against,
    earlier_events: pl.DataFrame | pl.LazyFrame | None,
    grain: str,
) -> pl.DataFrame:
    """The trend over ``[start, end)`` with the earlier window's columns (null columns when
    there is no window: no events and no date range)."""
    if start is None or end is None:
        return _with_previous_columns(out)
    window = comparison_window(
        start, end, against=against,
        events=earlier_events if earlier_events is not None else lf,
    )
    return _compared(lf, window, earlier_events, grain)


def _with_previous_columns(trend: pl.DataFrame) -> pl.DataFrame:
    """The comparison columns of an empty trend (nothing to compare)."""
    dtype = trend.schema["period"]
    return trend.with_columns(
        pl.lit(None, dtype=dtype).alias("previous_start"),
        *(pl.lit(None, dtype=trend.schema[m]).alias(f"previous_{m}") for m in TREND_METRICS),
        pl.lit(None, dtype=pl.Boolean).alias("previous_complete"),
    )


def _compared(
    lf: pl.LazyFrame,
    window: ComparisonWindow,
    earlier_events: pl.DataFrame | pl.LazyFrame | None,
    grain: str,
) -> pl.DataFrame:
    """Per period of ``window``: the current numbers and the earlier period's ones."""
    trunc = pl.col("ts").dt.truncate(_TRUNCATE[grain]).alias("period")
    now = lf.filter(window.current_filter()).group_by(trunc).agg(**_trend_aggs()).collect()
    source = (earlier_events if earlier_events is not None else lf).lazy()
    # the earlier periods whole (never past `start`): the earlier series is complete
    before = (
        source.filter(window.earlier_filter(grain=grain))
        .group_by(trunc).agg(**_trend_aggs()).collect()
    )
    aligned = align_earlier(before, window, grain=grain)
    covered = pl.col("previous_covered")
    # an earlier period the data cover but without events counts zero; an uncovered one: null
    previous = aligned.select(
        "period",
        "previous_start",
        *(pl.when(covered).then(pl.col(f"previous_{m}").fill_null(0)).alias(f"previous_{m}")
          for m in TREND_METRICS),
        "previous_complete",
    )
    # every event of `now` lies in [start, end), so its period is on the window's grid: the
    # left join from the grid keeps all of them and adds the periods without events as zeros
    counts = [c for c in now.columns if c != "period"]
    return (
        previous.select("period")
        .join(now, on="period", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in counts)
        .join(previous, on="period", how="left")
        .sort("period")
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
