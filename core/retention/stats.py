"""Retention statistics: the cell table and the pooled curve with Wilson intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from core.stats import wilson_exprs, z_score


def _retained_expr(k: int, last: int, mode: str) -> pl.Expr:
    if mode == "on":
        return pl.col("returned").list.contains(k)
    return pl.col("returned").list.eval(pl.element().is_between(k, last)).list.any()


def cell_table(people: pl.DataFrame, params: Any, data_end: Any, offset: Callable) -> pl.DataFrame:
    """One row per observed (group, cohort, period) cell with counts, rate, 95% Wilson
    interval and ``complete`` (see :mod:`core.retention.engine` for the rules)."""
    last = params.periods - 1
    counts = people.group_by(["group", "cohort"]).agg(
        pl.len().alias("cohort_size"),
        pl.len().alias("k0"),
        *[_retained_expr(k, last, params.mode).sum().alias(f"k{k}") for k in range(1, last + 1)],
    )
    long = counts.unpivot(
        index=["group", "cohort", "cohort_size"], variable_name="period", value_name="retained"
    ).with_columns(pl.col("period").str.slice(1).cast(pl.Int32))
    start = offset(pl.col("cohort"), params, pl.col("period"))
    end = offset(pl.col("cohort"), params, pl.col("period") + 1)
    end_last = offset(pl.col("cohort"), params, last + 1)
    complete = end_last if params.mode == "unbounded" else end
    z = z_score(0.95)
    low, high = wilson_exprs("retained", "cohort_size", z)
    cells = long.filter(start <= pl.lit(data_end)) if data_end is not None else long.clear()
    return (
        cells.with_columns(
            pl.col("retained").cast(pl.Int64),
            pl.col("cohort_size").cast(pl.Int64),
            (pl.col("retained") / pl.col("cohort_size")).alias("rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            (complete <= pl.lit(data_end)).alias("complete"),
        )
        .select("group", "cohort", "period", "cohort_size", "retained", "rate", "ci_low",
                "ci_high", "complete")
        .sort(["group", "cohort", "period"])
    )


def mean_curve(cells: pl.DataFrame) -> pl.DataFrame:
    """Pooled retention per group and period over the complete cells (people-weighted: the
    sum retained over the sum of cohort sizes), with a 95% Wilson interval."""
    z = z_score(0.95)
    low, high = wilson_exprs("retained", "people", z)
    return (
        cells.filter("complete")
        .group_by(["group", "period"])
        .agg(
            pl.len().alias("cohorts"),
            pl.col("cohort_size").sum().alias("people"),
            pl.col("retained").sum(),
        )
        .with_columns(
            (pl.col("retained") / pl.col("people")).alias("rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
        )
        .sort(["group", "period"])
    )
