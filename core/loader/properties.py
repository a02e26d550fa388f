"""Property columns: text columns whose every value is a number or a boolean get that type."""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from core.loader.values import _NUMBER_RE, _SAMPLE

_ID_LIKE: Final = re.compile(
    r"(^|[^a-z])(id|key|code|sku|zip|postal|postcode|phone|uuid|hash)$|[a-z]Id$|id$", re.I
)


def _tighten_columns(frame: pl.DataFrame, names: list[str]) -> list[pl.Series]:
    """Text properties that become Int64, Float64 or Boolean because every value is one.

    Judged first on a sample of rows (the first ones and an even spread of the rest: text,
    a leading zero or a non-boolean there keeps the column as text), then confirmed on the
    whole column. Each step is one query over all columns, so a file with 10,000 property
    columns costs a few queries rather than a few per column.
    """
    if not names or frame.height == 0:
        return []
    n = frame.height
    sample = frame.select(names)
    if n > _SAMPLE:
        step = max(1, n // (_SAMPLE // 2))
        rows = pl.concat(
            [
                pl.int_range(0, _SAMPLE // 2, eager=True),
                pl.int_range(_SAMPLE // 2, n, step, eager=True),
            ]
        )
        sample = sample[rows]

    # one long table (column, value) and one grouped query, whatever the number of columns
    v = pl.col("value").str.strip_chars()
    stats = (
        sample.unpivot(on=names, variable_name="column", value_name="value")
        .filter(pl.col("value").is_not_null())
        .group_by("column")
        .agg(
            v.str.to_lowercase().is_in(["true", "false"]).all().alias("bool"),
            v.str.contains(_NUMBER_RE).all().alias("number"),
            v.str.contains(r"^[+-]?0\d").any().alias("lead0"),
        )
    )
    booleans = set(stats.filter("bool")["column"])
    numbers = set(stats.filter(~pl.col("bool") & pl.col("number") & ~pl.col("lead0"))["column"])
    out: list[pl.Series] = []
    for c in booleans:
        low = frame[c].str.strip_chars().str.to_lowercase()
        if bool(low.drop_nulls().is_in(["true", "false"]).all()):
            out.append((low == "true").alias(c))
    candidates = [c for c in names if c in numbers]
    if candidates and frame.height * len(candidates) <= _LONG_CELLS:
        out.extend(_cast_numbers_long(frame, candidates))
    else:  # a tall frame with a few such columns: eager Series operations
        for c in candidates:
            col = frame[c].str.strip_chars()
            missing = col.null_count()
            for dtype in (pl.Int64, pl.Float64):
                cast = col.cast(dtype, strict=False)
                if cast.null_count() == missing:
                    out.append(cast)
                    break
    return out


#: Cells up to which many columns are cast as one long (row, column, value) table.
_LONG_CELLS: Final = 4_000_000


def _cast_numbers_long(frame: pl.DataFrame, names: list[str]) -> list[pl.Series]:
    """Int64 (else Float64) versions of the text columns whose every value casts, checked and
    cast in one long table and pivoted back: a constant number of queries for any width."""
    v = pl.col("value")
    long = (
        frame.select(names)
        .with_row_index("__i")
        .unpivot(index="__i", on=names, variable_name="column", value_name="value")
        .with_columns(v.str.strip_chars())
    )
    checks = long.group_by("column").agg(
        v.null_count().alias("missing"),
        v.cast(pl.Int64, strict=False).null_count().alias("int_missing"),
        v.cast(pl.Float64, strict=False).null_count().alias("float_missing"),
    )
    ints = set(checks.filter(pl.col("int_missing") == pl.col("missing"))["column"])
    floats = set(
        checks.filter(
            (pl.col("int_missing") != pl.col("missing"))
            & (pl.col("float_missing") == pl.col("missing"))
        )["column"]
    )
    out: list[pl.Series] = []
    for chosen, dtype in ((ints, pl.Int64), (floats, pl.Float64)):
        if not chosen:
            continue
        order = [c for c in names if c in chosen]
        wide = (
            long.filter(pl.col("column").is_in(order))
            .with_columns(v.cast(dtype))
            .pivot(on="column", index="__i", values="value")
            .sort("__i")
        )
        out.extend(wide.select(order).get_columns())
    return out
