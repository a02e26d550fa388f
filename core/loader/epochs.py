"""Unix times in seconds, milliseconds, microseconds or nanoseconds, each value read in the
unit its magnitude implies (a column mixing units, two systems appended together, reads
right)."""

from __future__ import annotations

import math
from typing import Final

import polars as pl

_EPOCH_LIMITS: Final = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", math.inf))


def _epoch_unit_code(num: pl.Expr) -> pl.Expr:
    """0, 1, 2, 3 for a value read as Unix s, ms, us, ns (by its own magnitude; see
    :data:`_EPOCH_LIMITS`), null where it is no finite number."""
    a = num.cast(pl.Float64, strict=False).abs()
    code = pl.lit(3, dtype=pl.UInt8)
    for i, (_, limit) in reversed(list(enumerate(_EPOCH_LIMITS[:-1]))):
        code = pl.when(a < limit).then(pl.lit(i, dtype=pl.UInt8)).otherwise(code)
    return pl.when(a.is_finite()).then(code)


def _epoch_expr(num: pl.Expr, unit: str, *, integer: bool) -> pl.Expr:
    """Epoch numbers as ``Datetime(us, UTC)``, each value in the unit its magnitude implies.

    A column mixing seconds and milliseconds (two systems appended together) is read right
    value by value; ``unit`` (the column's usual unit) is only reported. Values that do not
    fit a 64-bit microsecond count are null.
    """
    f = num.cast(pl.Float64, strict=False)
    a = f.abs()
    if integer:
        n = num.cast(pl.Int64, strict=False)
        us = (
            pl.when(a < _EPOCH_LIMITS[0][1])
            .then(n * 1_000_000)
            .when(a < _EPOCH_LIMITS[1][1])
            .then(n * 1_000)
            .when(a < _EPOCH_LIMITS[2][1])
            .then(n)
            .otherwise(n // 1_000)
        )
    else:
        factor = (
            pl.when(a < _EPOCH_LIMITS[0][1])
            .then(1e6)
            .when(a < _EPOCH_LIMITS[1][1])
            .then(1e3)
            .when(a < _EPOCH_LIMITS[2][1])
            .then(1.0)
            .otherwise(1e-3)
        )
        us = (
            pl.when(f.is_finite() & (a * factor < 9.2e18))
            .then((f * factor).round(0))
            .cast(pl.Int64, strict=False)
        )
    return us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
