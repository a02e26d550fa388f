"""Cart scoring on Spark: the model shipped to the executors once, :func:`score_carts` per
partition.

A cart is a session and sessions live inside users, so partitions are hashed by ``user_id``.
Two facts of the whole table enter every score, and both are measured on the whole table
first: the moment the data is looked at and the shop's money scale (:class:`ValueScale`, the
medians of the added items' prices and of the cart values, which ``score_carts`` would
otherwise measure on each partition alone: on two halves of 700 users that moved
probabilities by up to 0.023). Pass 1 brings back each partition's added prices and cart
values and the driver takes their medians; pass 2 scores with that scale.
The moment the data is looked at (``as_of``) defaults to the latest event of the *whole* table
(one aggregate on Spark), and every partition scores at that moment, so recency and
``idle_minutes`` are the same as on one machine. The model (weights, scaling statistics,
threshold) travels as a Spark broadcast on a classic session and inside the task closure on
Spark Connect (which has no broadcast API); either way it is sent once per executor, not per row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import polars as pl

from core import load_bundled_model, score_carts
from core.cart import ValueScale
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["score_carts_spark"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Shipped:
    """The model as the executors get it: a broadcast handle, or the model itself."""

    def __init__(self, model: Any, spark: Any) -> None:
        from core.spark.session import is_connect

        self._broadcast = None if is_connect(spark) else spark.sparkContext.broadcast(model)
        self._model = model if self._broadcast is None else None

    def __getstate__(self) -> dict[str, Any]:
        return {"_broadcast": self._broadcast, "_model": self._model}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def value(self) -> Any:
        return self._model if self._broadcast is None else self._broadcast.value


def _scale_values(frame: pl.DataFrame, *, as_of: datetime) -> dict[str, pl.DataFrame]:
    """Pass 1: the added items' prices and the running cart values of the partition's carts
    (the values whose medians are the shop's :class:`ValueScale`)."""
    # lazy: the cart task's preparation (torch-free); not a root name of core
    from core.cart.features import prepare_events

    prepared = prepare_events(frame.filter(pl.col("ts") <= as_of))
    adds = prepared.filter(
        (pl.col("event_type") == "add_to_cart")
        & pl.col("price").is_not_null()
        & (pl.col("price") > 0)
    )
    return {"adds": adds.select("price", "cart_value")}


def _whole_scale(parts: list[dict[str, pl.DataFrame]]) -> ValueScale:
    """The :class:`ValueScale` of the whole table: the medians :func:`value_scale` takes,
    over the values of every partition (a median does not depend on the order)."""
    adds = pl.concat([p["adds"] for p in parts]) if parts else pl.DataFrame()
    if adds.height == 0:
        return ValueScale()
    price = adds["price"].median()
    value = adds.filter(pl.col("cart_value") > 0)["cart_value"].median()
    return ValueScale(float(price) if price else None, float(value) if value else None)


def _score_partition(
    frame: pl.DataFrame, *, model: _Shipped, as_of: datetime, scale: ValueScale
) -> dict[str, pl.DataFrame]:
    return {"scores": score_carts(model.value, frame, as_of=as_of, scale=scale)}


def score_carts_spark(
    source: Any,
    model: Any = None,
    *,
    as_of: datetime | date | None = None,
    spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> pl.DataFrame:
    """:func:`score_carts` of the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str or pyspark.sql.DataFrame
        Parquet path, catalog table name or Spark DataFrame of canonical events.
    model : CartModel, optional
        Default: :func:`load_bundled_model`.
    as_of : datetime or date, optional
        As in :func:`score_carts`; default the latest event of the whole table.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.
    partitions : int, default 8
        Hash partitions by ``user_id``.

    Returns
    -------
    pl.DataFrame
        The rows of ``score_carts(model, events, as_of=as_of)``, highest risk first (ties by
        ``session_id``, then ``user_id``).
    """
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    from core.spark.session import get_session

    spark = spark or get_session()
    model = model or load_bundled_model()
    events = read_events(spark, source)
    if as_of is None:
        # µs since the epoch: a Python datetime from collect() would be in the driver's zone
        latest = events.frame.agg(F.unix_micros(F.max("ts"))).collect()[0][0]
        as_of = None if latest is None else _EPOCH + timedelta(microseconds=latest)
    if as_of is None:
        return score_carts(model, empty_partition(events))
    scale = _whole_scale(
        map_partitions(events, partial(_scale_values, as_of=as_of), key="user_id",
                       partitions=partitions)
    )  # fmt: skip
    parts = map_partitions(
        events,
        partial(_score_partition, model=_Shipped(model, spark), as_of=as_of, scale=scale),
        key="user_id",
        partitions=partitions,
    )
    if not parts:
        return score_carts(model, empty_partition(events), as_of=as_of)
    return pl.concat([p["scores"] for p in parts]).sort(
        ["p_abandon", "session_id", "user_id"], descending=[True, False, False]
    )
