"""Funnels on Spark: :meth:`FunnelParams.compute` per partition, :func:`merge_funnel_results`
on the driver.

Partitions are hashed by the funnel's ``count_by`` column, so every entity is whole in one
partition (sessions and orders too, whatever their ids look like). Each partition sends back
its ``entities`` table and two facts of its rows (the latest event, the steps absent from it);
the driver rebuilds one :class:`FunnelResult` per partition and merges them, which recomputes
every summary from the concatenated entities exactly as on one machine.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import polars as pl

from core import FunnelParams, FunnelResult, merge_funnel_results
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["compute_funnel_spark", "funnel_columns"]


def funnel_columns(params: FunnelParams) -> set[str]:
    """The columns a funnel reads: times, names, the entity, the breakdown and every column a
    step or exclusion condition tests (steps match the ``event`` column)."""
    steps = [*params.steps, *(x[0] for x in params.exclusions)]
    cols = {"ts", "event", params.count_by}
    cols |= {c.column for s in steps for c in s.where}
    return cols | ({params.breakdown} if params.breakdown else set())


def _funnel_partition(frame: pl.DataFrame, *, params: FunnelParams) -> dict[str, pl.DataFrame]:
    result = params.compute(frame)
    facts = pl.DataFrame(
        {"data_end": [result.data_end], "absent_steps": [list(result.absent_steps)]},
        schema={"data_end": pl.Datetime("us", "UTC"), "absent_steps": pl.List(pl.Int64)},
    )
    return {"entities": result.entities, "facts": facts}


def _rebuild(tables: dict[str, pl.DataFrame], params: FunnelParams) -> FunnelResult:
    facts = tables["facts"].row(0, named=True)
    data_end: datetime | None = facts["data_end"]
    return FunnelResult(
        steps=pl.DataFrame(),
        entities=tables["entities"],
        breakdown_steps=pl.DataFrame(),
        params=params,
        data_end=data_end,
        absent_steps=tuple(facts["absent_steps"]),
    )


def compute_funnel_spark(
    source: Any, params: FunnelParams, *, spark: Any = None, partitions: int = DEFAULT_PARTITIONS
) -> FunnelResult:
    """The funnel of ``params`` over the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str or pyspark.sql.DataFrame
        Parquet path (file, folder, glob), catalog table name or Spark DataFrame of canonical
        events.
    params : FunnelParams
        The funnel (as built by the page or :func:`compute_funnel`'s keywords).
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.
    partitions : int, default 8
        Hash partitions by ``params.count_by``.

    Returns
    -------
    FunnelResult
        Equal to ``params.compute(events)`` on one machine (``entities`` in partition order:
        sort by the ``count_by`` column to compare).

    Raises
    ------
    ParameterError, SchemaError
        As :func:`compute_funnel`; ``count_by`` missing from the events.
    DatasetNotFound
        ``source`` does not exist.
    """
    from core.spark.session import get_session

    spark = spark or get_session()
    events = read_events(spark, source)
    params.check_schema(pl.Schema(empty_partition(events).schema))
    parts = map_partitions(
        events,
        partial(_funnel_partition, params=params),
        key=params.count_by,
        partitions=partitions,
        columns=funnel_columns(params),
    )
    if not parts:
        return params.compute(empty_partition(events))
    return merge_funnel_results([_rebuild(t, params) for t in parts])
