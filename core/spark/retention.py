"""Retention on Spark: :func:`core.retention.people_table` per partition,
:func:`core.retention.merge_retention` on the driver.

Partitions are hashed by the person column (``params.count_by``), so every person's events are
in one partition, as the merge requires. Each partition sends back its people (one row per
person in a cohort: cohort, group, the periods they returned in) and its latest event; the
driver concatenates the people and takes the latest of the latest events as the end of the
data, which is what :func:`core.compute_retention` does on one machine.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import polars as pl

from core.retention import RetentionParams, RetentionResult, merge_retention, people_table
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["compute_retention_spark"]


def _retention_partition(frame: pl.DataFrame, *, params: RetentionParams
                         ) -> dict[str, pl.DataFrame]:
    return {"people": people_table(frame, params),
            "end": frame.select(data_end=pl.col("ts").max())}


def compute_retention_spark(
    source: Any, params: RetentionParams, *, spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> RetentionResult:
    """The retention table of ``params`` over the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        Canonical events (a :func:`core.spark.views.view_events` source for a filtered view).
    params : RetentionParams
        The retention settings.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.
    partitions : int, default 8
        Hash partitions by ``params.count_by``.

    Returns
    -------
    RetentionResult
        Equal to ``params.compute(events)`` on one machine.

    Raises
    ------
    ParameterError, SchemaError
        As :func:`core.compute_retention` (a column the settings name is missing).
    """
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    empty = empty_partition(events)
    params.check_columns(empty.schema)  # the settings' columns, before any Spark job
    parts = map_partitions(events, partial(_retention_partition, params=params),
                           key=params.count_by, partitions=partitions)
    if not parts:
        return params.compute(empty)
    data_end = pl.concat([p["end"] for p in parts])["data_end"].max()
    return merge_retention([p["people"] for p in parts], params, data_end)
