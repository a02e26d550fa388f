"""User features and segments on Spark.

Features: :func:`user_features_partition` per partition (hashed by ``user_id``) with one
:class:`FeatureReport` of the whole table, then concatenated and sorted by ``user_id``: equal
to :func:`user_features` on one machine (``core.segments`` documents this merge step).

The whole table's report comes from a first, cheap pass: each partition sends back its number
of users and a few *witness* rows (its latest event and the first row of every combination of
``event_type`` and which of ``price``, ``category`` and the device column are null), and
:func:`feature_availability` runs unchanged on the witnesses of all partitions. Every fact the
report reads (latest event, which event types occur, priced purchases, categories, devices) is
a property of at least one witness row, so the report is the whole table's; only its user count
comes from the sum of the partitions' counts (users never span partitions).

Segments: K-means is fitted on the driver by :func:`fit_segments` on the merged feature table
(one row per user, about 130 bytes each: 10 million users are 1.3 GB). The labels are
therefore *identical* to ``fit_segments(user_features(events))`` on one machine, by
construction (same table, same seed, same function), not merely equal up to renaming.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import partial
from typing import Any

import polars as pl

from core import (
    FeatureReport,
    Segmentation,
    SegmentParams,
    feature_availability,
    fit_segments,
    user_features_partition,
)
from core.segments import DEVICE_COLUMNS
from core.spark.runner import DEFAULT_PARTITIONS, empty_partition, map_partitions, read_events

__all__ = ["feature_report_spark", "user_features_spark", "fit_segments_spark"]


def _witnesses(frame: pl.DataFrame, *, as_of: datetime | None) -> dict[str, pl.DataFrame]:
    if as_of is not None:
        frame = frame.filter(pl.col("ts") <= as_of)
    flags = [
        pl.col(c).is_null() for c in ("price", "category", *DEVICE_COLUMNS) if c in frame.columns
    ]
    first = (
        frame.with_row_index("_w")
        .filter(pl.col("_w") == pl.col("_w").min().over("event_type", *flags))
        .drop("_w")
    )
    latest = frame.filter(pl.col("ts") == pl.col("ts").max()).head(1)
    users = pl.DataFrame({"users": [frame["user_id"].n_unique()]}, schema={"users": pl.Int64})
    return {"witnesses": pl.concat([first, latest]), "users": users}


def feature_report_spark(
    source: Any,
    *,
    as_of: datetime | None = None,
    spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> FeatureReport:
    """:func:`feature_availability` of the whole table behind ``source``, computed on Spark."""
    from core.spark.session import get_session

    spark = spark or get_session()
    events = read_events(spark, source)
    return _report(events, as_of, partitions)


def _report(events: Any, as_of: datetime | None, partitions: int) -> FeatureReport:
    parts = map_partitions(
        events, partial(_witnesses, as_of=as_of), key="user_id", partitions=partitions
    )
    if not parts:
        return feature_availability(empty_partition(events), as_of=as_of)
    witnesses = pl.concat([p["witnesses"] for p in parts], how="vertical_relaxed")
    report = feature_availability(witnesses, as_of=as_of)
    users = int(sum(p["users"]["users"][0] for p in parts))
    return dataclasses.replace(report, users=users) if report.users else report


def _features_partition(frame: pl.DataFrame, *, report: FeatureReport) -> dict[str, pl.DataFrame]:
    return {"features": user_features_partition(frame, report=report)}


def user_features_spark(
    source: Any,
    *,
    as_of: datetime | None = None,
    spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> pl.DataFrame:
    """:func:`user_features` of the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str or pyspark.sql.DataFrame
        Parquet path, catalog table name or Spark DataFrame of canonical events.
    as_of : datetime, optional
        As in :func:`user_features`.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.
    partitions : int, default 8
        Hash partitions by ``user_id``.

    Returns
    -------
    pl.DataFrame
        Equal to ``user_features(events, as_of=as_of)``, sorted by ``user_id``.
    """
    from core.spark.session import get_session

    spark = spark or get_session()
    events = read_events(spark, source)
    report = _report(events, as_of, partitions)
    parts = map_partitions(
        events, partial(_features_partition, report=report), key="user_id", partitions=partitions
    )
    if not parts:
        return user_features_partition(empty_partition(events), report=report)
    return pl.concat([p["features"] for p in parts]).sort("user_id")


def fit_segments_spark(
    source: Any,
    params: SegmentParams | None = None,
    *,
    as_of: datetime | None = None,
    spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> tuple[pl.DataFrame, Segmentation]:
    """Features on Spark, then :func:`fit_segments` (K-means) on the driver.

    Returns
    -------
    (pl.DataFrame, Segmentation)
        The feature table and the segmentation, equal to ``fit_segments(user_features(events))``
        with the same settings.
    """
    p = params or SegmentParams()
    features = user_features_spark(source, as_of=as_of, spark=spark, partitions=partitions)
    return features, fit_segments(
        features, k=p.k, k_range=p.k_range, seed=p.seed, columns=p.columns
    )
