"""A dashboard view of a lake dataset on Spark: its events under the sidebar's filters, and the
summary the sidebar's controls are built from.

:func:`view_events` is the Spark form of what the dashboard computes with Polars for a view
(``ui.data.filtered_events``): the dataset, the ``segment`` property of the shared segmentation
and one ``"cohort · <name>"`` property per chosen cohort, then the date range and the property
conditions (:func:`core.filters.apply_filters`). Every step is row-wise or a join on
``user_id``, so it runs inside each partition of the runner (:mod:`core.spark.runner`), before
the analysis: the segment labels and the cohort members travel to the workers as small tables
inside the partition function (a few bytes per user), and no filtered copy of the events is
ever written or brought back.

:func:`dataset_info_spark` is :func:`core.overview.dataset_info` on Spark: each partition sends
back its counts (rows, users, the latest and first event, event names, event types and, per
property column, the counts of its values, or only the fact that it has more than
``max_values`` of them), and the driver adds them up. Users never span partitions (hashed by
``user_id``), so the user count is the sum of the partitions' counts; a column with more than
``max_values`` distinct values in one partition has more in the whole table, so it lists none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import polars as pl

from core.cohorts import CohortDraft, with_cohort_columns
from core.filters import FilterParams, apply_filters
from core.overview import DatasetInfo
from core.schema import EVENT_TYPES, property_columns
from core.segments import Segmentation, SegmentParams, fit, user_features_partition
from core.segments.engine import _left_out_note
from core.spark.runner import (
    DEFAULT_PARTITIONS,
    EventSource,
    _to_polars,
    empty_partition,
    map_partitions,
    read_events,
)
from core.spark.segments import _features_partition, _report

__all__ = [
    "dataset_info_spark",
    "members_spark",
    "segment_events_spark",
    "span_spark",
    "then",
    "view_events",
    "view_frame",
    "within",
]


def _prepare(
    frame: pl.DataFrame,
    *,
    filters: FilterParams,
    cohorts: Mapping[str, pl.Series],
    labels: pl.DataFrame | None,
) -> pl.DataFrame:
    """One partition as the dashboard sees it: segments, cohorts, then the filters (the order
    of ``ui.data.base_events`` + ``apply_filters``: a filter may test a cohort or a segment)."""
    lf = frame.lazy()
    if labels is not None:
        lf = lf.join(labels.lazy(), on="user_id", how="left", maintain_order="left")
    if cohorts:
        lf = with_cohort_columns(lf, cohorts)
    out = apply_filters(lf, filters).collect()
    assert isinstance(out, pl.DataFrame)
    return out


def view_events(
    source: Any,
    *,
    filters: FilterParams | None = None,
    cohorts: Mapping[str, pl.Series] | None = None,
    labels: pl.DataFrame | None = None,
    spark: Any = None,
) -> EventSource:
    """The events of ``source`` as a dashboard view sees them, for the ``*_spark`` functions.

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        Parquet path, catalog table name or Spark DataFrame of canonical events.
    filters : FilterParams, optional
        The sidebar's date range and property conditions (applied in every partition).
    cohorts : mapping of str to pl.Series, optional
        Cohort name -> members (``user_id`` values): a ``"cohort · <name>"`` property each.
    labels : pl.DataFrame, optional
        ``user_id, segment`` of the shared segmentation (:func:`core.segments.segment_labels`
        on the whole dataset): a ``segment`` property.
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.

    Returns
    -------
    EventSource
        Pass it as the ``source`` of :func:`compute_funnel_spark`, :func:`compute_paths_spark`,
        :func:`overview_spark`, :func:`compute_retention_spark` and the others: their results
        equal those of the core functions on ``apply_filters(events + columns, filters)``.

    Raises
    ------
    ParameterError
        A condition names a column that is not in the data, or a cohort's column name is
        already a column.
    DatasetNotFound
        ``source`` does not exist.
    """
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    filters = filters or FilterParams()
    if filters.is_empty and not cohorts and labels is None:
        return events
    needs = {c.column for c in filters.conditions} | {"user_id"}
    if filters.date_from is not None or filters.date_to is not None:
        needs.add("ts")
    prepare = partial(_prepare, filters=filters, cohorts=dict(cohorts or {}), labels=labels)
    prepare(empty_partition(events))  # a bad condition fails here, as with Polars, not on a worker
    return events.with_prepare(prepare, needs=needs)


def _emit(batches: Any, *, schema: Any, prepare: Any, arrow_schema: Any) -> Any:
    held = [b for b in batches if b.num_rows]
    if not held:
        return
    frame = _to_polars(held, schema)
    if prepare is not None:
        frame = prepare(frame)
    yield from frame.to_arrow().cast(arrow_schema).to_batches()


def view_frame(source: EventSource, *, partitions: int = DEFAULT_PARTITIONS) -> Any:
    """The events of a :func:`view_events` source as a Spark DataFrame (lazy: nothing runs
    until it is read), for the Spark functions that read a DataFrame rather than partitions
    (:func:`core.spark.mine_rules_spark`). Rows keep their users together, not their order.
    """
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema  # lazy: pyspark

    spark_schema = from_arrow_schema(empty_partition(source).to_arrow().schema)
    emit = partial(_emit, schema=source.schema, prepare=source.prepare,
                   arrow_schema=to_arrow_schema(spark_schema, timezone="UTC"))
    return source.frame.repartition(partitions, "user_id").mapInArrow(emit, spark_schema)


def _chain(frame: pl.DataFrame, *, first: Any, second: Any) -> pl.DataFrame:
    return second(first(frame) if first is not None else frame)


def then(source: EventSource, step: Any, *, needs: Any = ()) -> EventSource:
    """``source`` with one more per-partition step after its own (a picklable
    ``pl.DataFrame -> pl.DataFrame`` that keeps whole users: e.g. the Paths page's
    ``filter_breakdown``); ``needs``: the source columns the step reads."""
    return source.with_prepare(partial(_chain, first=source.prepare, second=step),
                               needs=source.needs | set(needs))


def _keep(frame: pl.DataFrame, *, expr: pl.Expr) -> pl.DataFrame:
    return frame.filter(expr)


def within(source: EventSource, expr: pl.Expr) -> EventSource:
    """The events of ``source`` that ``expr`` keeps (a row-wise Polars predicate on ``ts``,
    such as :meth:`core.compare.ComparisonWindow.earlier_filter`), applied in every
    partition."""
    return then(source, partial(_keep, expr=expr), needs={"ts"})


def _span_partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {"span": frame.select(first=pl.col("ts").min(), last=pl.col("ts").max())}


def span_spark(source: Any, *, spark: Any = None, partitions: int = DEFAULT_PARTITIONS
               ) -> tuple[Any, Any]:
    """The first and last ``ts`` of the events of ``source`` (``(None, None)`` without any):
    :func:`core.compare.data_span` on Spark, for comparison windows."""
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    parts = map_partitions(events, _span_partition, key="user_id", partitions=partitions,
                           columns={"ts"})
    if not parts:
        return None, None
    spans = pl.concat([p["span"] for p in parts])
    return spans["first"].min(), spans["last"].max()


def _members_partition(frame: pl.DataFrame, *, draft: Callable[[pl.DataFrame], CohortDraft]
                       ) -> dict[str, pl.DataFrame]:
    return {"members": draft(frame).members.to_frame()}


def members_spark(source: Any, draft: Callable[[pl.DataFrame], CohortDraft], *,
                  spark: Any = None, partitions: int = DEFAULT_PARTITIONS) -> CohortDraft:
    """The users ``draft(events)`` finds (a :mod:`core.cohorts.sources` function: a path
    node's, a retention cell's, a funnel step's by session, a rule's buyers), found on Spark.

    ``draft`` is run on every partition (hashed by ``user_id``) and its members are united:
    right for every such function, as each finds a user from that user's own events (and the
    page's result, which ``draft`` carries to the workers). It runs once on no events first,
    on the driver: its errors are raised before any job, and its definition is the cohort's.

    Returns
    -------
    CohortDraft
        Equal to ``draft(events)``: the members sorted, without duplicates.
    """
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    nobody = draft(empty_partition(events))
    parts = map_partitions(events, partial(_members_partition, draft=draft), key="user_id",
                           partitions=partitions)
    if not parts:
        return nobody
    found = pl.concat([p["members"] for p in parts]).to_series()
    return CohortDraft(found.unique().sort().rename(nobody.members.name), nobody.definition)


def _value_counts(frame: pl.DataFrame, columns: list[str], max_values: int) -> pl.DataFrame:
    """``column, value, n`` of each column with at most ``max_values`` distinct values here;
    a column with more gets one row with a null value (it lists none in the whole table)."""
    pieces = []
    for c in columns:
        counts = (frame.select(pl.col(c).cast(pl.String).alias("value")).drop_nulls()
                  .group_by("value").agg(n=pl.len()))
        if counts.height > max_values:
            counts = pl.DataFrame({"value": [None], "n": [0]},
                                  schema={"value": pl.String, "n": pl.UInt32})
        pieces.append(counts.select(pl.lit(c).alias("column"), "value",
                                    pl.col("n").cast(pl.Int64)))
    schema = {"column": pl.String, "value": pl.String, "n": pl.Int64}
    return pl.concat(pieces) if pieces else pl.DataFrame(schema=schema)


def _info_partition(frame: pl.DataFrame, *, columns: list[str],
                    max_values: int) -> dict[str, pl.DataFrame]:
    head = frame.select(
        rows=pl.len().cast(pl.Int64), users=pl.col("user_id").n_unique().cast(pl.Int64),
        first=pl.col("ts").min(), last=pl.col("ts").max(),
    )
    names = frame.group_by("event").agg(n=pl.len().cast(pl.Int64)).drop_nulls("event")
    types = frame.select(pl.col("event_type").drop_nulls().unique())
    return {"head": head, "names": names, "types": types,
            "values": _value_counts(frame, columns, max_values)}


def _merged_values(parts: list[dict[str, pl.DataFrame]], columns: list[str],
                   max_values: int) -> dict[str, tuple[str, ...]]:
    values = pl.concat([p["values"] for p in parts])
    too_many = set(values.filter(pl.col("value").is_null())["column"].to_list())
    ranked = (values.drop_nulls("value").group_by("column", "value").agg(pl.col("n").sum())
              .sort(["column", "n", "value"], descending=[False, True, False])
              .group_by("column", maintain_order=True).agg(pl.col("value")))
    listed = dict(zip(ranked["column"].to_list(), ranked["value"].to_list(), strict=True))
    return {c: () if c in too_many or len(listed.get(c, [])) > max_values
            else tuple(listed.get(c, ())) for c in columns}


def dataset_info_spark(
    source: Any, *, max_values: int = 50, spark: Any = None, partitions: int = DEFAULT_PARTITIONS
) -> DatasetInfo:
    """:func:`core.overview.dataset_info` of the events of ``source``, computed on Spark.

    Parameters
    ----------
    source : str, pyspark.sql.DataFrame or EventSource
        Canonical events (a :func:`view_events` source summarises the view).
    max_values : int, default 50
        Columns with more distinct values list none.
    spark : SparkSession, optional
    partitions : int, default 8
        Hash partitions by ``user_id``.

    Returns
    -------
    DatasetInfo
        Equal to ``dataset_info(events, max_values=max_values)``.
    """
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    schema = pl.Schema(empty_partition(events).schema)
    candidates = [c for c in ("category", "brand", *property_columns(schema)) if c in schema]
    numeric = [c for c in ("price", "quantity", *candidates)
               if c in schema and schema[c].is_numeric()]
    parts = map_partitions(events, partial(_info_partition, columns=candidates,
                                           max_values=max_values), key="user_id",
                           partitions=partitions)
    if not parts:
        return DatasetInfo(0, 0, None, None, (), (), {c: () for c in candidates}, tuple(numeric))
    head = pl.concat([p["head"] for p in parts])
    names = (pl.concat([p["names"] for p in parts]).group_by("event").agg(pl.col("n").sum())
             .sort(["n", "event"], descending=[True, False]))
    present = set(pl.concat([p["types"] for p in parts])["event_type"].to_list())
    return DatasetInfo(
        rows=int(head["rows"].sum()), users=int(head["users"].sum()),
        first=head["first"].min(), last=head["last"].max(),  # type: ignore[arg-type]
        event_names=tuple(names["event"].to_list()),
        event_types=tuple(t for t in EVENT_TYPES if t in present),
        properties=_merged_values(parts, candidates, max_values), numeric=tuple(numeric),
    )


def segment_events_spark(
    source: Any, params: SegmentParams | None = None, *, spark: Any = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> Segmentation:
    """:func:`core.segments.segment_events` of the events of ``source``: the feature report
    and the user features on Spark (:mod:`core.spark.segments`), K-means on the driver.

    Features ``params.columns`` names that the data cannot support are left out with a note,
    as on one machine, so ``result.labels`` are the labels of ``segment_events(events,
    params)`` (the same feature table, seed and function).
    """
    from core.spark.session import get_session

    events = read_events(spark or get_session(), source)
    report = _report(events, None, partitions)
    params, dropped = (params or SegmentParams()).restricted_to(report.available)
    parts = map_partitions(events, partial(_features_partition, report=report), key="user_id",
                           partitions=partitions)
    features = (pl.concat([p["features"] for p in parts]).sort("user_id") if parts
                else user_features_partition(empty_partition(events), report=report))
    seg = fit(features, params)
    notes = [_left_out_note(name, report) for name in dropped]
    return dataclasses.replace(seg, notes=(*notes, *seg.notes)) if notes else seg
