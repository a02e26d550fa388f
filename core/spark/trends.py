"""The Funnels page's trend by attempt on Spark: :func:`core.funnels.conversion_by_attempt`'s
counts per partition, its trend table on the driver.

An attempt is an (entity, period of entry) followed as an entity of its own, so partitions
hashed by the funnel's ``count_by`` hold every attempt whole. Each partition sends back its
``entered`` and ``converted`` counts per period of entry and its latest event; the driver adds
the counts up per period and builds the table (conversion, Wilson interval, completeness
against the latest event of all partitions) with the function the one-machine path uses.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import polars as pl

from core.errors import ParameterError
from core.funnels import FunnelParams
from core.funnels.prepare import prepare_rows
from core.funnels.stats import _TREND_SCHEMA, _attempt_counts, _check_interval, _trend_frame
from core.spark.funnels import funnel_columns
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events
from core.stats import z_score

__all__ = ["conversion_by_attempt_spark"]

_COUNTS = {"_start": pl.Datetime("us", "UTC"), "entered": pl.Int64, "converted": pl.Int64}


def _attempt_partition(frame: pl.DataFrame, *, params: FunnelParams, interval: str,
                       to_step: int) -> dict[str, pl.DataFrame]:
    lf = frame.lazy()
    rows = prepare_rows(lf, params, lf.collect_schema())
    if rows.n_entities == 0 or rows.step_rows[0] == 0:
        counts = pl.DataFrame(schema=_COUNTS)
    else:
        counts = _attempt_counts(rows, params, interval, to_step).cast(_COUNTS)  # type: ignore[arg-type]
    end = pl.DataFrame({"data_end": [rows.data_end]}, schema={"data_end": _COUNTS["_start"]})
    return {"counts": counts, "end": end}


def conversion_by_attempt_spark(
    source: Any, params: FunnelParams, *, interval: str = "day", to_step: int | None = None,
    confidence: float = 0.95, spark: Any = None, partitions: int = DEFAULT_PARTITIONS,
) -> pl.DataFrame:
    """:func:`core.funnels.conversion_by_attempt` of the events of ``source``, on Spark.

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        Canonical events (a :func:`core.spark.views.view_events` source for a filtered view).
    params, interval, to_step, confidence
        As in :func:`core.funnels.conversion_by_attempt`.
    spark : SparkSession, optional
    partitions : int, default 8
        Hash partitions by ``params.count_by``.

    Returns
    -------
    pl.DataFrame
        Equal to ``conversion_by_attempt(events, params, interval=interval, ...)``.

    Raises
    ------
    ParameterError
        As :func:`core.funnels.conversion_by_attempt` (checked before any job).
    """
    from core.spark.session import get_session

    span = _check_interval(interval)
    z = z_score(confidence)
    if params.order == "unordered":
        raise ParameterError(
            "a trend by attempt needs an ordered or strict funnel (an unordered funnel has no "
            "step 1 to enter by), got order='unordered'; use conversion_over_time instead")
    params = params.replace(breakdown=None)  # breakdowns are ignored, as on one machine
    events = read_events(spark or get_session(), source)
    params.check_schema(pl.Schema(empty_partition(events).schema))
    n = len(params.steps)
    if n < 2:
        return pl.DataFrame(schema=_TREND_SCHEMA)
    to_step = n if to_step is None else to_step
    if isinstance(to_step, bool) or not isinstance(to_step, int) or not 2 <= to_step <= n:
        raise ParameterError(f"`to_step` must be a step number from 2 to {n}, got {to_step!r}")
    parts = map_partitions(events, partial(_attempt_partition, params=params, interval=interval,
                                           to_step=to_step),
                           key=params.count_by, partitions=partitions,
                           columns=funnel_columns(params))
    counts = pl.concat([p["counts"] for p in parts]) if parts else pl.DataFrame(schema=_COUNTS)
    if counts.is_empty():
        return pl.DataFrame(schema=_TREND_SCHEMA)
    data_end = pl.concat([p["end"] for p in parts])["data_end"].max()
    merged = counts.group_by("_start").agg(pl.col("entered", "converted").sum())
    return _trend_frame(merged, span, params.window, data_end, z)  # type: ignore[arg-type]
