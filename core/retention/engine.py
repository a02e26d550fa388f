"""Cohort retention: who came back, period by period, after their first start event.

Semantics (PostHog's "first time" retention, which Mixpanel calls "birth" retention):

- A person's **cohort** is the period (day, ISO week from Monday, or calendar month) of their
  first event that matches the start definition, over the whole table given.
- **Period 0** is the cohort's own period and always holds the whole cohort (100%).
- A person **returned in period N** (N >= 1) when they have an event that matches the
  returning definition in the N-th period after their cohort's. Returning events in period 0
  and before the first start event do not count.
- Mode ``"on"`` counts people who returned during period N; mode ``"unbounded"`` counts those
  who returned in period N or any later period of the table (PostHog's cumulative retention).
- A cell is **observed** when its period has started before the data ends (the last event of
  the table) and **complete** when it has ended; incomplete cells are shown but flagged, and
  cells not yet observed are left out. In ``"unbounded"`` mode a cell is complete only when
  every period from N to the last one shown has ended (a later return could still add people).

Every step works per person, so the same code runs on any partition that holds all events of
its people; :func:`merge_retention` adds up partition results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from core.errors import ParameterError
from core.params import require_columns
from core.retention.params import RetentionParams
from core.retention.stats import cell_table, mean_curve

_TRUNC = {"day": "1d", "week": "1w", "month": "1mo"}
OTHER = "Other"


@dataclass(frozen=True, eq=False)
class RetentionResult:
    """A retention table and the people behind it.

    Attributes
    ----------
    params : RetentionParams
        The settings it was computed with.
    people : pl.DataFrame
        One row per person in a cohort: ``person`` (the ``count_by`` value), ``cohort`` (start
        of the cohort period), ``group`` (breakdown value, ``"All"`` without a breakdown) and
        ``returned`` (sorted list of the periods >= 1 they came back in).
    cells : pl.DataFrame
        ``group, cohort, period, cohort_size, retained, rate, ci_low, ci_high, complete``:
        one row per observed cell, period 0 included.
    mean : pl.DataFrame
        ``group, period, cohorts, people, retained, rate, ci_low, ci_high``: the retention of
        all complete cells of each period pooled (people-weighted), with 95% Wilson intervals.
    data_end : datetime or None
        The last event time of the table: periods after it are not observed.
    """

    params: RetentionParams
    people: pl.DataFrame
    cells: pl.DataFrame
    mean: pl.DataFrame
    data_end: datetime | None

    @property
    def n_people(self) -> int:
        """People in any cohort."""
        return self.people.height

    @property
    def groups(self) -> list[str]:
        """Breakdown groups, largest first (``["All"]`` without a breakdown)."""
        sizes = self.people.group_by("group").len().sort(["len", "group"], descending=[True, False])
        return sizes.get_column("group").to_list()


def _offset(col: pl.Expr, params: RetentionParams, k: int | pl.Expr) -> pl.Expr:
    unit = {"day": "d", "week": "w", "month": "mo"}[params.period]
    if isinstance(k, int):
        return col.dt.offset_by(f"{k}{unit}")
    return col.dt.offset_by(pl.format("{}" + unit, k))


def _period_index(ts: pl.Expr, cohort: pl.Expr, period: str) -> pl.Expr:
    """Whole periods from ``cohort`` to the period that holds ``ts``."""
    t = ts.dt.truncate(_TRUNC[period])
    if period == "month":
        months = lambda x: x.dt.year().cast(pl.Int64) * 12 + x.dt.month().cast(pl.Int64)  # noqa: E731
        return months(t) - months(cohort)
    days = 7 if period == "week" else 1
    return (t - cohort).dt.total_days() // days


def _firsts(lf: pl.LazyFrame, params: RetentionParams, schema: pl.Schema) -> pl.LazyFrame:
    """Each person's cohort and breakdown value, from their first start event."""
    by = params.count_by
    starts = lf.filter(params.match("start", schema) & pl.col(by).is_not_null())
    aggs = [pl.col("ts").min().alias("_first")]
    if params.breakdown is not None:
        value = pl.col(params.breakdown).sort_by("ts").first().cast(pl.String).fill_null("(none)")
        aggs.append(value.alias("group"))
    out = starts.group_by(by).agg(aggs)
    if params.breakdown is None:
        out = out.with_columns(pl.lit("All").alias("group"))
    return out.select(
        pl.col(by).alias("person"),
        pl.col("_first").dt.truncate(_TRUNC[params.period]).alias("cohort"),
        "group",
    )


def _returns(
    lf: pl.LazyFrame, firsts: pl.LazyFrame, params: RetentionParams, schema: pl.Schema
) -> pl.LazyFrame:
    """``person, returned``: the periods 1..periods-1 each person came back in."""
    back = lf.filter(params.match("returning", schema)).select(
        pl.col(params.count_by).alias("person"), "ts"
    )
    k = _period_index(pl.col("ts"), pl.col("cohort"), params.period)
    return (
        back.join(firsts.select("person", "cohort"), on="person", how="inner")
        .select("person", k.alias("k"))
        .filter((pl.col("k") >= 1) & (pl.col("k") < params.periods))
        .unique()
        .group_by("person")
        .agg(pl.col("k").sort().cast(pl.Int32).alias("returned"))
    )


def _pool_groups(people: pl.DataFrame, limit: int) -> pl.DataFrame:
    sizes = people.group_by("group").len().sort(["len", "group"], descending=[True, False])
    keep = sizes.head(limit).get_column("group")
    if sizes.height <= limit:
        return people
    return people.with_columns(
        pl.when(pl.col("group").is_in(keep.implode())).then("group").otherwise(pl.lit(OTHER))
    )


def people_table(events: pl.DataFrame | pl.LazyFrame, params: RetentionParams) -> pl.DataFrame:
    """One row per person in a cohort (see :attr:`RetentionResult.people`), before pooling
    small breakdown groups; the per-partition step of :func:`compute_retention`."""
    lf = events.lazy()
    schema = lf.collect_schema()
    require_columns(schema, ("ts", "event"))
    params.check_columns(schema)
    firsts = _firsts(lf, params, schema)
    returns = _returns(lf, firsts, params, schema)
    return (
        firsts.join(returns, on="person", how="left")
        .with_columns(pl.col("returned").fill_null(pl.lit([], dtype=pl.List(pl.Int32))))
        .sort(["cohort", "person"])
        .collect()
    )


def _finish(people: pl.DataFrame, params: RetentionParams, data_end: Any) -> RetentionResult:
    people = _pool_groups(people, params.breakdown_limit)
    cells = cell_table(people, params, data_end, _offset)
    return RetentionResult(
        params=params, people=people, cells=cells, mean=mean_curve(cells), data_end=data_end
    )


def run(events: pl.DataFrame | pl.LazyFrame, params: RetentionParams) -> RetentionResult:
    """Compute the retention table of ``events`` under ``params`` (the engine)."""
    lf = events.lazy()
    people = people_table(lf, params)
    data_end = lf.select(pl.col("ts").max()).collect().item()
    return _finish(people, params, data_end)


def compute_retention(
    events: pl.DataFrame | pl.LazyFrame,
    start: Any = None,
    returning: Any = None,
    *,
    period: str = "week",
    periods: int = 8,
    mode: str = "on",
    count_by: str = "user_id",
    breakdown: str | None = None,
    breakdown_limit: int = 10,
) -> RetentionResult:
    """Cohort retention: of the people whose first start event fell in a period, how many
    came back (did the returning event) 1, 2, ... periods later.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical events (``ts``, ``event``, ``count_by`` and any columns the definitions and
        the breakdown name).
    start, returning : FunnelStep, str, list of str or None
        What puts a person in a cohort (their first match) and what counts as coming back;
        ``None`` means any event.
    period : {"day", "week", "month"}
        Cohort and return period (weeks start on Monday).
    periods : int
        Table columns: period 0 to ``periods - 1`` (2 to 53).
    mode : {"on", "unbounded"}
        Returned during period N, or in period N or any later period shown.
    count_by : str
        Column that identifies a person.
    breakdown : str or None
        Split by this column's value on each person's cohort-defining event.
    breakdown_limit : int
        Largest groups kept; others pooled as ``"Other"``.

    Returns
    -------
    RetentionResult
        ``cells`` (the triangle), ``mean`` (pooled curve with 95% intervals) and ``people``.

    Raises
    ------
    ParameterError
        A setting is invalid (the message names it and what is allowed).
    SchemaError
        ``ts`` or ``event`` is missing.

    Examples
    --------
    >>> from datetime import datetime
    >>> ev = pl.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit"] * 3,
    ...     "ts": [datetime(2024, 1, 1), datetime(2024, 1, 9), datetime(2024, 1, 2)]})
    >>> r = compute_retention(ev, period="week", periods=3)
    >>> r.cells.select("period", "cohort_size", "retained").rows()
    [(0, 2, 2), (1, 2, 1)]
    """
    params = RetentionParams(
        start=start,
        returning=returning,
        period=period,
        periods=periods,
        mode=mode,
        count_by=count_by,
        breakdown=breakdown,
        breakdown_limit=breakdown_limit,
    )
    return run(events, params)


def merge_retention(parts: Sequence[pl.DataFrame], params: RetentionParams, data_end: Any
                    ) -> RetentionResult:
    """Combine :func:`people_table` results of partitions that each hold all events of their
    people (e.g. hash-partitioned by person) into one result.

    Raises
    ------
    ParameterError
        The same person appears in two partitions (the partitioning was not by person).
    """
    people = pl.concat(list(parts), how="vertical") if parts else None
    if people is None:
        raise ParameterError("merge_retention needs at least one partition result")
    if people.get_column("person").n_unique() != people.height:
        raise ParameterError(
            "a person appears in several partitions: partition the events by person first"
        )
    return _finish(people.sort(["cohort", "person"]), params, data_end)


def retained_people(result: RetentionResult, cohort: Any, period: int, *, group: str | None = None
                    ) -> pl.Series:
    """The people counted in one cell (for saving them as a cohort).

    Parameters
    ----------
    result : RetentionResult
    cohort : datetime
        Start of the cohort period (a value of ``result.cells["cohort"]``).
    period : int
        0 gives the whole cohort.
    group : str, optional
        Breakdown group; all groups when omitted.
    """
    p = result.people.filter(pl.col("cohort") == cohort)
    if group is not None:
        p = p.filter(pl.col("group") == group)
    if period > 0:
        last = result.params.periods - 1
        if result.params.mode == "on":
            hit = pl.col("returned").list.contains(period)
        else:
            hit = pl.col("returned").list.eval(pl.element().is_between(period, last)).list.any()
        p = p.filter(hit)
    return p.get_column("person")
