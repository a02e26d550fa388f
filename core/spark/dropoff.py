"""The paths after a funnel drop-off on Spark: :func:`core.paths.paths_after_drop_off` per
partition, :func:`core.merge_paths` on the driver.

Partitions are hashed by ``user_id``. The funnel counts users or sessions (the function refuses
anything else) and a session lives inside one user, so every entity of the funnel, and every
path after its drop-off, is whole in one partition: each partition finds its own drop-outs and
their paths, and sends back the per-path table (as :func:`core.spark.compute_paths_spark`
does) and its number of drop-outs. The driver merges the paths of the partitions that had
drop-outs and adds up their numbers.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import polars as pl

from core import FunnelParams, PathsParams, PathsResult, merge_paths
from core.paths import FunnelDropOff, paths_after_drop_off
from core.spark.paths import _rebuild
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["paths_after_drop_off_spark"]


def _dropoff_partition(frame: pl.DataFrame, *, funnel: FunnelParams, dropped_at: int,
                       params: PathsParams) -> dict[str, pl.DataFrame]:
    result, info = paths_after_drop_off(frame, funnel=funnel, dropped_at=dropped_at,
                                        params=params)
    # the tables of core.spark.paths' partition step, of this result
    types = pl.DataFrame({"name": list(result.node_types), "type": list(result.node_types.values())},
                         schema={"name": pl.String, "type": pl.String})
    facts = pl.DataFrame({"entities": [result.entities], "reason": [result.reason]},
                         schema={"entities": pl.Int64, "reason": pl.String})
    dropped = pl.DataFrame({"entities": [info.entities]}, schema={"entities": pl.Int64})
    return {"path_counts": result.path_counts, "node_types": types, "facts": facts,
            "dropped": dropped}


def paths_after_drop_off_spark(
    source: Any, *, funnel: FunnelParams, dropped_at: int, params: PathsParams,
    spark: Any = None, partitions: int = DEFAULT_PARTITIONS,
) -> tuple[PathsResult, FunnelDropOff]:
    """:func:`core.paths.paths_after_drop_off` of the events of ``source``, on Spark.

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        Canonical events (a :func:`core.spark.views.view_events` source for a filtered view).
    funnel, dropped_at, params
        As in :func:`core.paths.paths_after_drop_off`.
    spark : SparkSession, optional
    partitions : int, default 8
        Hash partitions by ``user_id``.

    Returns
    -------
    (PathsResult, FunnelDropOff)
        Equal to ``paths_after_drop_off(events, funnel=..., dropped_at=..., params=...)``.

    Raises
    ------
    ParameterError
        As :func:`core.paths.paths_after_drop_off` (checked before any job).
    """
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    # the settings' errors, the paths' settings and the empty answer, before any job
    nobody, info = paths_after_drop_off(empty_partition(events), funnel=funnel,
                                        dropped_at=dropped_at, params=params)
    parts = map_partitions(events, partial(_dropoff_partition, funnel=funnel,
                                           dropped_at=dropped_at, params=params),
                           key="user_id", partitions=partitions)
    parts = [t for t in parts if t["dropped"]["entities"][0] > 0]
    if not parts:
        return nobody, info
    entities = int(sum(t["dropped"]["entities"][0] for t in parts))
    merged = merge_paths([_rebuild(t, nobody.params) for t in parts])
    return merged, dataclasses.replace(info, entities=entities)
