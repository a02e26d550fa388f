"""Preparation of a funnel's rows: one Polars query codes each row's steps as bits and its time
as µs; the rows are then grouped by entity, each entity's in time order.

Rows already grouped by entity in time order (the stored tables) are used as they are; others
(an export in log order, a shuffled file) are grouped by :func:`core._grouping.group_rows` — a
hash partition and a stable counting sort, never a sort of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from core.funnels.params import FunnelParams

__all__ = ["Rows", "entity_codes", "from_us", "prepare_rows", "unordered_work"]


@dataclass(frozen=True, eq=False)
class Rows:
    """Step-coded rows grouped by entity, each entity's in time order, then input order.

    ``ids`` holds each entity's id in entity order; the rows of entity ``e`` are
    ``starts[e]:starts[e + 1]``. ``t`` is µs since the epoch, ``mask`` has bit ``k-1`` set when
    the row matches step ``k``, ``xl`` bit ``j-1`` when it is an excluded event between steps
    ``j`` and ``j+1`` (never on a row that matches a step), ``bd`` the breakdown value.
    """

    ids: pl.Series
    starts: Any  # np.ndarray (int64)
    t: Any
    mask: Any
    xl: Any
    bd: pl.Series | None
    step_rows: list[int]
    data_end: datetime | None

    @property
    def n_entities(self) -> int:
        return len(self.starts) - 1


def _code_exprs(params: FunnelParams, schema: pl.Schema) -> list[pl.Expr]:
    """Expressions of the working columns: ``_ent``, ``t``, ``mask``, ``xl``, ``bd``.

    ``mask`` and ``xl`` are Int32 bit sets (at most 30 steps): narrow columns copy faster
    into the kernel's arrays."""
    mask = pl.lit(0, dtype=pl.Int32)
    for k, step in enumerate(params.steps):
        mask = mask | pl.when(step.expr(schema)).then(pl.lit(1 << k, dtype=pl.Int32)).otherwise(
            pl.lit(0, dtype=pl.Int32)
        )
    xl = pl.lit(0, dtype=pl.Int32)
    for step, a, b in params.exclusions:
        bits = sum(1 << (j - 1) for j in range(a, b))
        xl = xl | pl.when(step.expr(schema)).then(pl.lit(bits, dtype=pl.Int32)).otherwise(
            pl.lit(0, dtype=pl.Int32)
        )
    cols = [
        pl.col(params.count_by).alias("_ent"),
        pl.col("ts").dt.epoch("us").alias("t"),
        mask.alias("mask"),
    ]
    if params.exclusions:
        # an event that matches a step is never an excluded event
        cols.append(pl.when(mask == 0).then(xl).otherwise(0).alias("xl"))
    if params.breakdown is not None:
        cols.append(pl.col(params.breakdown).cast(pl.String).alias("bd"))
    return cols


def _row_stats(starts: Any, t: Any, mask: Any, n: int) -> tuple[bool, list[int]]:
    """Are the rows of each entity in time order? How many rows match each step?"""
    from core.funnels.kernel import in_parallel, row_stats  # lazy: numba (~0.5 s)

    parts = in_parallel(row_stats, starts, t, mask, n)
    in_order = all(bad < 0 for bad, _ in parts)
    return in_order, [int(sum(int(c[k]) for _, c in parts)) for k in range(n)]


def prepare_rows(
    events: pl.DataFrame | pl.LazyFrame, params: FunnelParams, schema: pl.Schema
) -> Rows:
    """Collect the working columns once and group them by entity, in time order.

    Rows already grouped (the canonical table) are used as they are; others (an export in
    time order, a shuffled file) are grouped by ``core._grouping.group_rows`` — a hash
    partition and a stable counting sort, no sort of the table — so entities then come in an
    order of its own (the per-entity results are the same)."""
    from core._grouping import group_rows  # lazy: it imports numba (~0.5 s)

    df = events.lazy().select(*_code_exprs(params, schema)).collect()
    if df["_ent"].null_count() or df["t"].null_count():
        df = df.filter(pl.col("_ent").is_not_null() & pl.col("t").is_not_null())
    t = df["t"].to_numpy()
    groups = group_rows(df["_ent"], t)
    t, mask = groups.take(t), groups.take(df["mask"].to_numpy())
    _, step_rows = _row_stats(groups.starts, t, mask, len(params.steps))
    xl = groups.take(df["xl"].to_numpy()) if "xl" in df.columns else np.zeros(len(t), np.int32)
    return Rows(
        # one chunk first: gathering across the chunks of a Parquet read is several times slower
        ids=df["_ent"].rechunk().gather(groups.first_rows),
        starts=groups.starts,
        t=t,
        mask=mask,
        xl=xl,
        bd=groups.take_series(df["bd"].rechunk()) if "bd" in df.columns else None,
        step_rows=step_rows,
        data_end=from_us(int(t.max())) if len(t) else None,
    )


def entity_codes(rows: Rows) -> Any:
    """The entity number (0, 1, ...) of every row, as a uint32 array."""
    lens = np.diff(rows.starts)
    return np.repeat(np.arange(len(lens), dtype=np.uint32), lens)


def unordered_work(rows: Rows) -> pl.DataFrame:
    """The step and excluded events as a frame (``e``, ``t``, ``mask``, ``xl``, ``bd``) with
    equal timestamps in step order: lowest matched step first (stable)."""
    work = pl.DataFrame({"e": entity_codes(rows), "t": rows.t, "mask": rows.mask, "xl": rows.xl})
    if rows.bd is not None:
        work = work.with_columns(rows.bd.alias("bd"))
    low = (
        pl.when(pl.col("mask") == 0)
        .then(pl.lit(1 << 62, dtype=pl.Int64))
        .otherwise(pl.col("mask") & (-pl.col("mask")))
    )
    return (
        work.filter((pl.col("mask") != 0) | (pl.col("xl") != 0))
        .with_columns(low.alias("_low"))
        .sort(["e", "t", "_low"], maintain_order=True)
        .drop("_low")
    )


def from_us(us: int | None) -> datetime | None:
    """A UTC datetime from µs since the epoch."""
    if us is None:
        return None
    return pl.Series([us], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")).item()
