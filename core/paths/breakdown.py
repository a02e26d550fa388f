"""Breakdowns: the events of the entities that have one value of a property."""

from __future__ import annotations

import polars as pl

from core.errors import ParameterError
from core.paths.params import COUNT_BY


def filter_breakdown(
    events: pl.DataFrame | pl.LazyFrame, *, column: str, value: str, count_by: str = "session_id"
) -> pl.DataFrame | pl.LazyFrame:
    """All events of the entities whose breakdown value (first non-null ``column``) is ``value``.

    Whole entities are kept, so their paths are not cut by events lacking the property.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    column : str
        Property column.
    value : str
        The value to keep (compared as text).
    count_by : {"session_id", "user_id"}, default "session_id"
        The entity.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        Same kind as the input, row order kept.

    Raises
    ------
    ParameterError
        ``column`` is not in the table or ``count_by`` is not valid.
    """
    _check_breakdown(events, column, count_by)
    first_value = pl.col(column).cast(pl.String).drop_nulls().first().over(count_by)
    return events.filter(first_value == str(value))


def _check_breakdown(events, column: str, count_by: str) -> None:
    if count_by not in COUNT_BY:
        raise ParameterError(f"`count_by` must be one of {list(COUNT_BY)}, got {count_by!r}")
    names = events.collect_schema().names()
    if column not in names:
        raise ParameterError(f"breakdown column {column!r} is not in the data; available: {names}")
