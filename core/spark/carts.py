"""The events the Cart abandonment analyses read, gathered on Spark.

Everything the Cart page shows (the held-out measurement of the models, training for the
data, every cart's risk, reasons and explanations) reads the events of the users who put
something in a cart: a cart is a session, sessions live inside users, and a cart's features
use only its user's events. On Spark the table is hash-partitioned by ``user_id``; every
partition (after the sidebar's filters, as for any page) keeps the events of its users with an
``add_to_cart`` and sends them back, and the unchanged :mod:`core.cart` functions run on the
driver. One more row comes back: the table's latest event (the moment the data are looked at,
which decides which carts are still open), when its user has no cart.

Two passes: the first counts those rows, so that a table whose cart users do not fit this
server is refused with the count before anything is collected; the second collects them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from core.errors import ParameterError
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["MAX_CART_ROWS", "cart_events_spark"]

#: The most events :func:`cart_events_spark` brings to the driver by default.
MAX_CART_ROWS = 30_000_000


def _cart_users(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of the partition's users with at least one ``add_to_cart``."""
    carts = frame.filter(pl.col("event_type") == "add_to_cart").get_column("user_id").unique()
    return frame.filter(pl.col("user_id").is_in(carts.implode()))


def _latest(frame: pl.DataFrame) -> pl.DataFrame:
    """The partition's latest event with a time and a user (its last such row in input order
    among equal times); no row when there is none."""
    timed = frame.filter(pl.col("ts").is_not_null() & pl.col("user_id").is_not_null())
    if timed.is_empty():
        return timed.head(0)
    return timed.filter(pl.col("ts") == pl.col("ts").max()).tail(1)


def _count_partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    rows = pl.DataFrame({"rows": [_cart_users(frame).height]}, schema={"rows": pl.Int64})
    return {"rows": rows}


def _collect_partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {"events": _cart_users(frame), "latest": _latest(frame)}


def cart_events_spark(
    source: Any,
    *,
    spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
    max_rows: int = MAX_CART_ROWS,
) -> pl.DataFrame:
    """The events of the users with a cart, and the table's latest event, as one Polars frame
    sorted as the dataset store sorts (``user_id``, then ``ts``, stable).

    Every :mod:`core.cart` function gives on this frame what it gives on the whole table
    (``tests/test_spark_pages.py`` compares the Cart page).

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        As :func:`core.spark.compute_funnel_spark` (a view's events with its filters).
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.
    partitions : int, default 8
        Hash partitions by ``user_id``.
    max_rows : int, default :data:`MAX_CART_ROWS`
        The most events brought to this process.

    Returns
    -------
    pl.DataFrame
        The canonical columns of ``source``.

    Raises
    ------
    ParameterError
        The users with a cart hold more than ``max_rows`` events (counted, nothing collected).
    DatasetNotFound
        ``source`` does not exist.
    """
    from core.loader.order import sort_events  # lazy: the loader package is heavy
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    counts = map_partitions(events, _count_partition, key="user_id", partitions=partitions)
    rows = sum(int(p["rows"]["rows"].sum()) for p in counts)
    if rows > max_rows:
        raise ParameterError(
            f"the users with a cart hold {rows:,} events, more than the {max_rows:,} this "
            "server reads for the Cart page; narrow the date range or filter the users in the "
            "sidebar, or score every cart on the cluster with `python -m core.batch score "
            "--backend spark`"
        )
    parts = map_partitions(events, _collect_partition, key="user_id", partitions=partitions)
    empty = empty_partition(events)
    if not parts:
        return empty
    frame = pl.concat([empty, *(p["events"] for p in parts)], how="vertical_relaxed")
    latest = pl.concat([p["latest"] for p in parts], how="vertical_relaxed")
    if latest.height:
        last = latest.filter(pl.col("ts") == pl.col("ts").max()).head(1)
        if not frame.get_column("user_id").is_in(last.get_column("user_id").implode()).any():
            frame = pl.concat([frame, last], how="vertical_relaxed")
    return sort_events(frame)
