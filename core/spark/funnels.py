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
from core.spark.runner import (
    DEFAULT_PARTITIONS,
    ROW_COL,
    empty_partition,
    map_partitions,
    read_events,
)

__all__ = ["compute_funnel_spark", "funnel_columns"]


def funnel_columns(params: FunnelParams) -> set[str]:
    """The columns a funnel reads: times, names, the entity, the breakdown and every column a
    step or exclusion condition tests (steps match the ``event`` column)."""
    steps = [*params.steps, *(x[0] for x in params.exclusions)]
    cols = {"ts", "event", params.count_by}
    cols |= {c.column for s in steps for c in s.where}
    return cols | ({params.breakdown} if params.breakdown else set())


def _step_names(params: FunnelParams) -> list[str]:
    """Every event name a step or an exclusion matches."""
    steps = [*params.steps, *(x[0] for x in params.exclusions)]
    return sorted({name for step in steps for name in step.events})


def step_rows_only(frame: Any, *, params: FunnelParams) -> tuple[Any, Any]:
    """The rows a non-strict funnel reads, before the shuffle, in two parts.

    ``steps``: the rows whose event a step or an exclusion names (their conditions are tested
    in the partition); they go through the hash shuffle. ``stand_ins``: one row (its latest
    time, no event) per entity without any such row with a time, so the entities that never
    did step 1 are counted as on one machine; they need no shuffle, since no entity is in
    both parts. The data's latest event may be a row of neither: :func:`compute_funnel_spark`
    asks for it apart. Strict funnels need every row (any event breaks a strict attempt), so
    it does not call this.
    """
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    match = F.coalesce(F.col("event").isin(_step_names(params)), F.lit(False))
    key = params.count_by
    timed = match & F.col("ts").isNotNull()
    zero = (
        frame.groupBy(key)
        .agg(F.max("ts").alias("ts"), F.max(timed.cast("int")).alias("_has"))
        .filter(F.col("_has") == 0)
    )
    types = dict(frame.dtypes)
    stand_ins = zero.select(
        *[
            F.col(c)
            if c in (key, "ts")
            else F.lit(1 << 62).cast("long").alias(c)
            if c == ROW_COL
            else F.lit(None).cast(types[c]).alias(c)
            for c in frame.columns
        ]
    )
    # an entity whose step rows all lack a time is a stand-in; its untimed rows are dropped in
    # the partition as on one machine
    return frame.filter(match), stand_ins


def _latest(frame: Any, key: str) -> datetime | None:
    """The latest ``ts`` of the rows with an entity (the funnel's ``data_end``)."""
    from pyspark.sql import functions as F

    return frame.filter(F.col(key).isNotNull()).agg(F.max("ts")).collect()[0][0]


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
    # fewer rows through the shuffle where the answer cannot change: a non-strict funnel reads
    # only its step and excluded events (filters in ``prepare`` may read any row: not then)
    split = None
    if params.order != "strict" and events.prepare is None and params.steps:
        if dict(events.frame.dtypes).get("event") == "string":
            split = partial(step_rows_only, params=params)
    parts = map_partitions(
        events,
        partial(_funnel_partition, params=params),
        key=params.count_by,
        partitions=partitions,
        columns=funnel_columns(params),
        split=split,
    )
    if parts and split is not None:
        latest = _latest(events.frame, params.count_by)
        if latest is not None:
            end = pl.lit(latest).cast(pl.Datetime("us", "UTC")).alias("data_end")
            facts = parts[0]["facts"].with_columns(end)
            parts[0] = {**parts[0], "facts": facts}
    if not parts:
        return params.compute(empty_partition(events))
    return merge_funnel_results([_rebuild(t, params) for t in parts])
