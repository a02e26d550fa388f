"""Saved cohorts as event properties, so every page filters and breaks down by them.

Like the ``segment`` property, each chosen cohort becomes one String column on the events:

- its name is ``"cohort · <cohort name>"`` (:func:`cohort_column`), e.g. ``"cohort · VIP"``
  (no colon: a link keeps conditions as ``column:op:value``, so a colon in the column would
  break the filter's round trip; cohort names refuse ``:``, ``;`` and ``=`` for the same
  reason);
- its value is ``"in cohort"`` on the events of the cohort's users and ``"not in cohort"`` on
  everyone else's (:data:`IN_COHORT`, :data:`NOT_IN_COHORT`).

So ``Condition("cohort · VIP", "eq", "in cohort")`` keeps the cohort's events
(:func:`core.filters.apply_filters`), and a funnel or paths breakdown on ``"cohort · VIP"``
compares the cohort with everyone else, with no change to those engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from core.cohorts.model import COUNT_BY
from core.errors import ParameterError

#: Prefix of a cohort's column name.
COLUMN_PREFIX: Final = "cohort · "
#: Value of a cohort column on its members' events.
IN_COHORT: Final = "in cohort"
#: Value of a cohort column on everyone else's events.
NOT_IN_COHORT: Final = "not in cohort"


def cohort_column(name: str) -> str:
    """The column that holds cohort ``name`` on the events: ``"cohort · <name>"``."""
    return f"{COLUMN_PREFIX}{name}"


def with_cohort_columns(
    events: pl.DataFrame | pl.LazyFrame, cohorts: Mapping[str, pl.Series]
) -> pl.LazyFrame:
    """Add one ``"cohort · <name>"`` column per cohort: ``"in cohort"`` / ``"not in cohort"``.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (``user_id`` is read).
    cohorts : mapping of str to pl.Series
        Cohort name -> its members (``user_id`` values, as
        :meth:`core.store.DatasetStore.cohort_members` returns them).

    Returns
    -------
    pl.LazyFrame
        The events, row order kept, with one String column per cohort (never null: events of
        users outside the cohort, and of a null user, are ``"not in cohort"``).

    Raises
    ------
    ParameterError
        A cohort's column name is already a column of ``events`` (rename the cohort), or its
        members are not a Series.

    Examples
    --------
    >>> lf = with_cohort_columns(events, {"VIP": store.cohort_members(ds, vip_id)})  # doctest: +SKIP
    >>> apply_filters(lf, FilterParams(conditions=(Condition("cohort · VIP", "eq", "in cohort"),)))  # doctest: +SKIP
    """
    lf = events.lazy()
    schema = lf.collect_schema()
    user_dtype = schema.get(COUNT_BY)
    if user_dtype is None:
        raise ParameterError(f"`events` has no `{COUNT_BY}` column; cohorts are sets of users")
    columns = []
    for name, members in cohorts.items():
        column = cohort_column(name)
        if column in schema:
            raise ParameterError(
                f"cohort {name!r} would be the column {column!r}, which the data already has; "
                "rename the cohort")
        if not isinstance(members, pl.Series):
            raise ParameterError(
                f"the members of cohort {name!r} must be a polars Series, got "
                f"{type(members).__name__}")
        ids = members.cast(user_dtype, strict=False).drop_nulls().unique().implode()
        inside = pl.col(COUNT_BY).is_in(ids).fill_null(False)
        columns.append(pl.when(inside).then(pl.lit(IN_COHORT)).otherwise(pl.lit(NOT_IN_COHORT))
                       .cast(pl.String).alias(column))
    return lf.with_columns(columns) if columns else lf
