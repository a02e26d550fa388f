"""A funnel's statistics: conversion trends (by attempt, by cohort), time to convert, and the
breakdown table with Wilson intervals and Fisher tests adjusted by Holm's method.

The interval, the normal quantile and the Holm adjustment are those of :mod:`core.stats`, the one
statistics module; :func:`wilson_interval` is re-exported here for compatibility.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from core.errors import ParameterError
from core.funnels.params import FunnelParams
from core.funnels.prepare import Rows, entity_codes, prepare_rows
from core.funnels.result import FunnelResult, breakdown_buckets
from core.stats import holm, wilson_exprs, wilson_interval, z_score

__all__ = [
    "TREND_DEFINITIONS",
    "TREND_INTERVALS",
    "breakdown_table",
    "conversion_by_attempt",
    "conversion_over_time",
    "time_to_convert",
    "wilson_interval",
]


def _check_step(result: FunnelResult, value: Any, name: str, *, low: int = 1) -> int:
    n = result.n_steps
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= max(n, low):
        raise ParameterError(f"`{name}` must be a step number from {low} to {n}, got {value!r}")
    return value


#: Trend intervals and their length (UTC; weeks start on Monday).
TREND_INTERVALS: Final[dict[str, timedelta]] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
_TRUNCATE: Final[dict[str, str]] = {"hour": "1h", "day": "1d", "week": "1w"}
#: The two definitions of a conversion trend (see :func:`conversion_by_attempt`).
TREND_DEFINITIONS: Final[dict[str, str]] = {
    "attempts": "attempts that entered in the period and converted within the window",
    "cohort": "entities by the period of their first entry (cohort)",
}

_TREND_SCHEMA: Final[dict[str, pl.DataType]] = {
    "period": pl.Datetime("us", "UTC"),
    "entered": pl.Int64(),
    "converted": pl.Int64(),
    "conversion": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "complete": pl.Boolean(),
}


def _check_interval(interval: Any) -> timedelta:
    if not isinstance(interval, str) or interval not in TREND_INTERVALS:
        raise ParameterError(f"`interval` must be one of {list(TREND_INTERVALS)}, got {interval!r}")
    return TREND_INTERVALS[interval]


def _trend_frame(
    counts: pl.DataFrame, span: timedelta, window: timedelta, data_end: datetime | None, z: float
) -> pl.DataFrame:
    """``_start``, ``entered``, ``converted`` per period -> the trend table.

    A period is complete when the window of its last possible entry (just before the period's
    end) closes no later than the end of the data: only then can no later event still convert
    one of its entries."""
    low, high = wilson_exprs("converted", "entered", z)
    if data_end is not None:
        complete = (pl.col("_start") + span + window) <= pl.lit(data_end)
    else:
        complete = pl.lit(True)
    return counts.sort("_start").select(
        pl.col("_start").cast(pl.Datetime("us", "UTC")).alias("period"),
        pl.col("entered").cast(pl.Int64),
        pl.col("converted").cast(pl.Int64),
        (pl.col("converted") / pl.col("entered")).alias("conversion"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        complete.alias("complete"),
    )


def conversion_over_time(
    result: FunnelResult,
    *,
    interval: str = "day",
    to_step: int | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Conversion by the period of each entity's first entry into the funnel (a cohort view).

    Each entity counts once, in the period of the step 1 of its counted attempt, as converted
    when that entity converted at all. A growing shop's repeat visitors all sit in the first
    periods, so this view is not a trend of the conversion rate: use
    :func:`conversion_by_attempt` for that (the default of the Funnels page).

    Parameters
    ----------
    result : FunnelResult
    interval : {"hour", "day", "week"}
        UTC hours, days, or weeks starting on Monday.
    to_step : int, optional
        Conversion means reaching this step; default the last one.
    confidence : float
        Coverage of the Wilson interval.

    Returns
    -------
    pl.DataFrame
        ``period`` (Datetime UTC, start of the period), ``entered``, ``converted``,
        ``conversion``, ``ci_low``, ``ci_high`` and ``complete`` (false when the window of some
        entrants runs past the end of the data, so the period's conversion may still rise).
        Empty when nobody entered.

    Raises
    ------
    ParameterError
        ``interval``, ``to_step`` or ``confidence`` is invalid.
    """
    span = _check_interval(interval)
    to_step = result.n_steps if to_step is None else _check_step(result, to_step, "to_step")
    z = z_score(confidence)
    ents = result.entities
    if result.n_steps == 0 or ents.is_empty():
        return pl.DataFrame(schema=_TREND_SCHEMA)
    entered = ents.filter(~pl.col("excluded") & (pl.col("furthest_step") >= 1))
    if entered.is_empty():
        return pl.DataFrame(schema=_TREND_SCHEMA)
    counts = entered.group_by(
        pl.col("step_1_at").dt.truncate(_TRUNCATE[interval]).alias("_start")
    ).agg(
        pl.len().alias("entered"),
        (pl.col("furthest_step") >= to_step).sum().alias("converted"),
    )
    return _trend_frame(counts, span, result.window, result.data_end, z)


def conversion_by_attempt(
    events: pl.DataFrame | pl.LazyFrame,
    params: FunnelParams,
    *,
    interval: str = "week",
    to_step: int | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Conversion of the funnel attempts that entered in each period (PostHog's funnel trend).

    For each period and each entity with a step-1 event in it, the entity's attempts that start
    at one of those step-1 events are followed with the funnel's rules (window from the
    attempt's step 1, order, exclusions); the entity counts once in the period's ``entered``,
    and in ``converted`` when one of those attempts reached ``to_step``. A later step may fall
    after the period's end, inside the window. An entity active in three weeks counts in all
    three, so the rate follows what the shop converts week by week, unlike
    :func:`conversion_over_time`, which puts every entity in the period of its first entry.

    This is PostHog's trends funnel (``funnel-udf/src/trends.rs``: one state per entity and
    entry period) and Mixpanel's conversion trend. Breakdowns are ignored.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table, filtered as for :func:`compute_funnel`.
    params : FunnelParams
        The funnel (ordered or strict; unordered funnels have no step 1 to enter by).
    interval : {"hour", "day", "week"}
        UTC hours, days, or weeks starting on Monday.
    to_step : int, optional
        Conversion means reaching this step (2 to the number of steps); default the last.
    confidence : float
        Coverage of the Wilson interval.

    Returns
    -------
    pl.DataFrame
        The columns of :func:`conversion_over_time`: ``period`` (Datetime UTC),
        ``entered``, ``converted``, ``conversion``, ``ci_low``, ``ci_high``, ``complete``
        (false when the window of entries late in the period runs past the end of the data).
        Empty when nobody entered or the funnel has fewer than two steps.

    Raises
    ------
    ParameterError
        A parameter is invalid, or the funnel is unordered.

    Examples
    --------
    >>> p = FunnelParams(steps=("view_item", "purchase"), window=timedelta(days=1))
    >>> conversion_by_attempt(events, p, interval="week")  # doctest: +SKIP
    """
    span = _check_interval(interval)
    z = z_score(confidence)
    if not isinstance(params, FunnelParams):
        raise ParameterError(f"`params` must be a FunnelParams, got {type(params).__name__}")
    if params.order == "unordered":
        raise ParameterError(
            "a trend by attempt needs an ordered or strict funnel (an unordered funnel has no "
            "step 1 to enter by), got order='unordered'; use conversion_over_time instead"
        )
    params = params.replace(breakdown=None)  # breakdowns are ignored: not even read
    lf = events.lazy()
    schema = lf.collect_schema()
    params.check_schema(schema)
    n = len(params.steps)
    if n < 2:
        return pl.DataFrame(schema=_TREND_SCHEMA)
    if to_step is None:
        to_step = n
    elif isinstance(to_step, bool) or not isinstance(to_step, int) or not 2 <= to_step <= n:
        raise ParameterError(f"`to_step` must be a step number from 2 to {n}, got {to_step!r}")
    rows = prepare_rows(lf, params, schema)
    if rows.n_entities == 0 or rows.step_rows[0] == 0:
        return pl.DataFrame(schema=_TREND_SCHEMA)
    counts = _attempt_counts(rows, params, interval, to_step)
    return _trend_frame(counts, span, params.window, rows.data_end, z)


def _attempt_counts(rows: Rows, params: FunnelParams, interval: str, to_step: int) -> pl.DataFrame:
    """``_start``, ``entered``, ``converted`` per period of entry (see
    :func:`conversion_by_attempt`): each (entity, period) is followed as an entity of its own."""
    from core.funnels.kernel import in_parallel, ordered_funnel  # lazy: numba (~0.5 s)

    p_in, starts, idx, mask_w = _attempt_rows(rows, interval, params.window_us)
    parts = in_parallel(
        ordered_funnel,
        starts,
        rows.t[idx],
        mask_w,
        rows.xl[idx],
        len(params.steps),
        params.window_us,
        params.order == "strict",
    )
    per = pl.DataFrame(
        {
            "_start": pl.Series(p_in).cast(pl.Datetime("us", "UTC")),
            "furthest": np.concatenate([p[0] for p in parts]).astype(np.int64),
            "excluded": np.concatenate([p[1] for p in parts]),
        }
    ).filter(~pl.col("excluded") & (pl.col("furthest") >= 1))
    return per.group_by("_start").agg(
        pl.len().alias("entered"), (pl.col("furthest") >= to_step).sum().alias("converted")
    )


def _attempt_rows(rows: Rows, interval: str, window_us: int) -> tuple[Any, Any, Any, Any]:
    """The rows of every (entity, period of entry), as entities of their own.

    Each (entity, period with a step-1 event) gets the entity's rows from the first one at the
    time of its first entry in the period (ties included) to the last one at or before the
    period's end plus the window, with step 1 cleared outside the period, so that only attempts
    entering in the period are followed. The slices are found by binary search on an (entity,
    time rank) key, which rows sorted by entity and time keep non-decreasing.

    Returns
    -------
    (p_in, starts, idx, mask_w)
        Each slice's period start (µs), the slices' bounds in the new row order, the rows taken
        (indices into ``rows``) and their step bits.
    """
    span_us = TREND_INTERVALS[interval] // timedelta(microseconds=1)
    t, mask, ent = rows.t, rows.mask, entity_codes(rows)
    # one (entity, period) per period with a step-1 event, from its first entry in the period
    entries = (
        pl.DataFrame({"e": ent, "t": t, "mask": mask})
        .filter((pl.col("mask") & 1) != 0)
        .group_by(
            "e",
            pl.col("t")
            .cast(pl.Datetime("us", "UTC"))
            .dt.truncate(_TRUNCATE[interval])
            .dt.epoch("us")
            .alias("p"),
        )
        .agg(pl.col("t").min().alias("first"))
    )
    e_in, p_in = entries["e"].to_numpy(), entries["p"].to_numpy()
    times = np.sort(t)  # np.unique hashes: 20x slower on a million rows
    times = times[np.concatenate(([True], times[1:] != times[:-1]))]
    width = np.int64(len(times) + 1)
    key = ent.astype(np.int64) * width + np.searchsorted(times, t)
    base = e_in.astype(np.int64) * width
    lo = np.searchsorted(key, base + np.searchsorted(times, entries["first"].to_numpy()), "left")
    limit = p_in + (span_us - 1 + window_us)
    hi = np.searchsorted(key, base + np.searchsorted(times, limit, "right") - 1, "right")
    lengths = hi - lo
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    idx = np.repeat(lo - starts[:-1], lengths) + np.arange(starts[-1], dtype=np.int64)
    t_w, p_w = t[idx], np.repeat(p_in, lengths)
    inside = (t_w >= p_w) & (t_w < p_w + span_us)
    mask_w = np.where(inside, mask[idx], mask[idx] & ~np.int32(1)).astype(mask.dtype)
    return p_in, starts, idx, mask_w


def time_to_convert(
    result: FunnelResult, *, from_step: int = 1, to_step: int | None = None, bins: int = 20
) -> pl.DataFrame:
    """Histogram of the time entities took from ``from_step`` to ``to_step``.

    Parameters
    ----------
    result : FunnelResult
    from_step, to_step : int
        1-based, ``from_step < to_step``; ``to_step`` defaults to the last step.
    bins : int
        Number of equal-width bins from 0 to the longest time (1 to 200).

    Returns
    -------
    pl.DataFrame
        ``bin_start_seconds``, ``bin_end_seconds``, ``entities``, ``share`` (of converters).
        Empty when nobody reached ``to_step``.

    Raises
    ------
    ParameterError
        Steps out of range or not increasing, or ``bins`` out of range.
    """
    schema = {
        "bin_start_seconds": pl.Float64(),
        "bin_end_seconds": pl.Float64(),
        "entities": pl.Int64(),
        "share": pl.Float64(),
    }
    if result.n_steps < 2:
        return pl.DataFrame(schema=schema)
    to_step = result.n_steps if to_step is None else _check_step(result, to_step, "to_step", low=2)
    _check_step(result, from_step, "from_step")
    if from_step >= to_step:
        raise ParameterError(
            f"`from_step` must come before `to_step`, got from {from_step} to {to_step}"
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 200:
        raise ParameterError(f"`bins` must be a whole number from 1 to 200, got {bins!r}")
    secs = result.entities.filter(
        ~pl.col("excluded") & (pl.col("furthest_step") >= to_step)
    ).select(
        (
            (pl.col(f"step_{to_step}_at") - pl.col(f"step_{from_step}_at")).dt.total_microseconds()
            / 1e6
        ).alias("s")
    )["s"]
    if secs.is_empty():
        return pl.DataFrame(schema=schema)
    values = secs.to_numpy()
    top = float(values.max())
    edges = np.linspace(0.0, top if top > 0 else 1.0, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    return pl.DataFrame(
        {
            "bin_start_seconds": edges[:-1],
            "bin_end_seconds": edges[1:],
            "entities": counts.astype("int64"),
            "share": counts / counts.sum(),
        },
        schema=schema,
    )


def breakdown_table(
    result: FunnelResult, *, to_step: int | None = None, confidence: float = 0.95
) -> pl.DataFrame:
    """Conversion per breakdown value, its Wilson interval and a test against the rest.

    Each value's conversion (entered step 1 -> reached ``to_step``) is compared with the pooled
    conversion of all other values by Fisher's exact test (two-sided); p-values are adjusted
    for the number of values by Holm's method, and ``significant`` is
    ``p_adjusted < 1 - confidence``.

    Returns
    -------
    pl.DataFrame
        ``breakdown``, ``entered``, ``converted``, ``conversion``, ``ci_low``, ``ci_high``,
        ``rest_conversion``, ``difference`` (value minus rest), ``p_value``, ``p_adjusted``,
        ``significant``. Empty without a breakdown or when nobody entered.
    """
    schema = {
        "breakdown": pl.String(),
        "entered": pl.Int64(),
        "converted": pl.Int64(),
        "conversion": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "rest_conversion": pl.Float64(),
        "difference": pl.Float64(),
        "p_value": pl.Float64(),
        "p_adjusted": pl.Float64(),
        "significant": pl.Boolean(),
    }
    z = z_score(confidence)
    if result.breakdown is None or result.n_steps == 0 or result.entities.is_empty():
        return pl.DataFrame(schema=schema)
    to_step = result.n_steps if to_step is None else _check_step(result, to_step, "to_step")
    with_bucket, top = breakdown_buckets(result.entities, result.breakdown_limit)
    counts = with_bucket.group_by("bucket").agg(
        pl.len().cast(pl.Int64).alias("entered"),
        (pl.col("furthest_step") >= to_step).sum().cast(pl.Int64).alias("converted"),
    )
    if counts.is_empty():
        return pl.DataFrame(schema=schema)
    rank = {v: i for i, v in enumerate(top)}
    counts = counts.with_columns(
        pl.col("bucket").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("_o")
    ).sort("_o")
    total_n = int(counts["entered"].sum())
    total_x = int(counts["converted"].sum())
    from scipy.stats import fisher_exact  # lazy: scipy is heavy; only this table needs it

    pvals: list[float | None] = []
    for x, n_ in zip(counts["converted"].to_list(), counts["entered"].to_list(), strict=True):
        rn, rx = total_n - n_, total_x - x
        if rn == 0:
            pvals.append(None)
            continue
        table = [[x, n_ - x], [rx, rn - rx]]
        pvals.append(float(fisher_exact(table, alternative="two-sided").pvalue))
    low, high = wilson_exprs("converted", "entered", z)
    rest_n = pl.lit(total_n) - pl.col("entered")
    rest_conv = pl.when(rest_n > 0).then((pl.lit(total_x) - pl.col("converted")) / rest_n)
    out = counts.select(
        pl.col("bucket").alias("breakdown"),
        "entered",
        "converted",
        (pl.col("converted") / pl.col("entered")).alias("conversion"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        rest_conv.alias("rest_conversion"),
    ).with_columns(
        (pl.col("conversion") - pl.col("rest_conversion")).alias("difference"),
        pl.Series("p_value", pvals, dtype=pl.Float64),
        pl.Series("p_adjusted", holm(pvals), dtype=pl.Float64),
    )
    return out.with_columns(
        (pl.col("p_adjusted") < (1 - confidence)).fill_null(False).alias("significant")
    ).select(list(schema))
