"""Paths on Spark: :meth:`PathsParams.compute` per partition, :func:`merge_paths` on the
driver.

Partitions are hashed by ``user_id``: a path is a session or a user's whole history and
sessions live inside users (a session without an id is cut from its user's events at 30
minutes of inactivity), so every path is whole in one partition. Each partition sends back its
``path_counts`` table (one row per distinct path, small) and its node types; the merge adds up
identical paths and folds and builds the edges once, as :func:`compute_paths` does.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import polars as pl

from core import PathsParams, PathsResult, merge_paths
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["compute_paths_spark"]


def _paths_partition(frame: pl.DataFrame, *, params: PathsParams) -> dict[str, pl.DataFrame]:
    result = params.compute(frame)
    types = pl.DataFrame(
        {"name": list(result.node_types), "type": list(result.node_types.values())},
        schema={"name": pl.String, "type": pl.String},
    )
    facts = pl.DataFrame(
        {"entities": [result.entities], "reason": [result.reason]},
        schema={"entities": pl.Int64, "reason": pl.String},
    )
    return {"path_counts": result.path_counts, "node_types": types, "facts": facts}


def _rebuild(tables: dict[str, pl.DataFrame], params: PathsParams) -> PathsResult:
    facts = tables["facts"].row(0, named=True)
    types = dict(
        zip(
            tables["node_types"]["name"].to_list(),
            tables["node_types"]["type"].to_list(),
            strict=True,
        )
    )
    empty = pl.DataFrame()
    return PathsResult(
        params=params,
        edges=empty,
        nodes=empty,
        top_paths=empty,
        path_counts=tables["path_counts"],
        entities=facts["entities"],
        node_types=types,
        reason=facts["reason"],
    )


def compute_paths_spark(
    source: Any, params: PathsParams, *, spark: Any = None, partitions: int = DEFAULT_PARTITIONS
) -> PathsResult:
    """The paths of ``params`` over the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str or pyspark.sql.DataFrame
        Parquet path, catalog table name or Spark DataFrame of canonical events.
    params : PathsParams
        The paths settings.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.
    partitions : int, default 8
        Hash partitions by ``user_id``.

    Returns
    -------
    PathsResult
        Equal to ``params.compute(events)`` on one machine.

    Raises
    ------
    ParameterError, SchemaError
        As :func:`compute_paths`.
    DatasetNotFound
        ``source`` does not exist.
    """
    from core.spark.session import get_session

    spark = spark or get_session()
    events = read_events(spark, source)
    # times, nodes, the entity, purchases (event_type), users (sessions without an id)
    columns = {"ts", "user_id", "session_id", "event_type", params.node, params.count_by}
    parts = map_partitions(
        events,
        partial(_paths_partition, params=params),
        key="user_id",
        partitions=partitions,
        columns=columns,
    )
    if not parts:
        return params.compute(empty_partition(events))
    return merge_paths([_rebuild(t, params) for t in parts])
