"""Property conditions and the sidebar filters every page applies.

A :class:`Condition` is one test on one column ("`category` = phones", "`price` > 100",
"`brand` is null"). The same class serves the sidebar's property filters and the property
conditions of funnel steps, so both read and behave alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

import polars as pl

from core.errors import ParameterError

Operator = Literal["eq", "ne", "in", "not_in", "contains", "not_contains", "gt", "ge", "lt", "le",
                   "is_null", "is_not_null"]

#: Operators and the words the UI shows for them.
OPERATORS: dict[str, str] = {
    "eq": "=",
    "ne": "≠",
    "in": "is one of",
    "not_in": "is not one of",
    "contains": "contains",
    "not_contains": "does not contain",
    "gt": ">",
    "ge": "≥",
    "lt": "<",
    "le": "≤",
    "is_null": "is empty",
    "is_not_null": "is set",
}
_NUMERIC_OPS = {"gt", "ge", "lt", "le"}
_NO_VALUE_OPS = {"is_null", "is_not_null"}


@dataclass(frozen=True)
class Condition:
    """One property test on one column.

    Parameters
    ----------
    column : str
        Column of the canonical table (``category``, ``price``, ``device``...).
    op : str
        One of :data:`OPERATORS`.
    value : str, float, tuple or None
        What to compare with: a scalar, a tuple for ``in``/``not_in``, nothing for the null tests.
        Numeric comparisons need a number (or a string that parses as one).

    Examples
    --------
    >>> Condition("category", "eq", "phones").expr()  # doctest: +SKIP
    """

    column: str
    op: str = "eq"
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ParameterError(
                f"condition operator must be one of {sorted(OPERATORS)}, got {self.op!r}"
            )
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))
        if self.op in _NUMERIC_OPS:
            try:
                float(self.value)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"condition `{self.column} {OPERATORS[self.op]} ...` needs a number, "
                    f"got {self.value!r}"
                ) from None

    def expr(self, schema: pl.Schema | dict[str, pl.DataType] | None = None) -> pl.Expr:
        """The Polars boolean expression of this condition (null counts as not matching).

        Parameters
        ----------
        schema : schema, optional
            The table's schema; when given, a missing column raises a :class:`ParameterError`
            and values are compared in the column's type.
        """
        col = pl.col(self.column)
        dtype = None
        if schema is not None:
            if self.column not in schema:
                raise ParameterError(
                    f"condition column {self.column!r} is not in the data; "
                    f"available: {sorted(schema)}"
                )
            dtype = schema[self.column]
        if self.op == "is_null":
            return col.is_null()
        if self.op == "is_not_null":
            return col.is_not_null()
        numeric = dtype is not None and dtype.is_numeric()
        if self.op in _NUMERIC_OPS:
            v = float(self.value)
            c = col if numeric else col.cast(pl.Float64, strict=False)
            e = {"gt": c > v, "ge": c >= v, "lt": c < v, "le": c <= v}[self.op]
            return e.fill_null(False)
        if self.op in ("contains", "not_contains"):
            e = col.cast(pl.String).str.contains(str(self.value), literal=True)
            e = e if self.op == "contains" else ~e
            return e.fill_null(False)
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        if numeric:
            try:
                values = tuple(float(v) for v in values)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"column {self.column!r} is numeric; {self.value!r} is not a number"
                ) from None
            target = col.cast(pl.Float64)
        else:
            values = tuple(str(v) for v in values)
            target = col.cast(pl.String)
        e = target.is_in(values)
        if self.op in ("ne", "not_in"):
            e = ~e
        return e.fill_null(False)

    def label(self) -> str:
        """Human-readable form, e.g. ``category = phones``."""
        if self.op in _NO_VALUE_OPS:
            return f"{self.column} {OPERATORS[self.op]}"
        v = ", ".join(map(str, self.value)) if isinstance(self.value, tuple) else self.value
        return f"{self.column} {OPERATORS[self.op]} {v}"


def combine(conditions: Iterable[Condition], schema=None) -> pl.Expr:
    """AND of several conditions (``True`` when there are none)."""
    e = pl.lit(True)
    for c in conditions:
        e = e & c.expr(schema)
    return e


@dataclass(frozen=True)
class FilterParams:
    """The sidebar's filters: a date range (inclusive, in UTC days) and property conditions.

    Parameters
    ----------
    date_from, date_to : datetime.date, optional
        First and last day to keep (inclusive). ``None`` leaves that end open.
    conditions : tuple of Condition
        Property conditions, all of which an event must meet.
    """

    date_from: date | None = None
    date_to: date | None = None
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ParameterError(
                f"date range start {self.date_from} is after its end {self.date_to}"
            )
        object.__setattr__(self, "conditions", tuple(self.conditions))

    @property
    def is_empty(self) -> bool:
        return self.date_from is None and self.date_to is None and not self.conditions


def apply_filters(
    events: pl.DataFrame | pl.LazyFrame, params: FilterParams
) -> pl.DataFrame | pl.LazyFrame:
    """Keep the events inside the date range that meet every property condition.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    params : FilterParams
        The filters.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        Same kind as the input, same columns, row order kept.

    Raises
    ------
    ParameterError
        A condition names a column that is not in the data.
    """
    if params.is_empty:
        return events
    schema = events.collect_schema()
    pred = combine(params.conditions, schema)
    if params.date_from is not None:
        start = datetime.combine(params.date_from, time.min, tzinfo=timezone.utc)
        pred = pred & (pl.col("ts") >= start)
    if params.date_to is not None:
        end = datetime.combine(params.date_to, time.min, tzinfo=timezone.utc) + timedelta(days=1)
        pred = pred & (pl.col("ts") < end)
    return events.filter(pred)


def parse_condition(text: str) -> Condition:
    """Parse the compact URL form ``column:op:value`` (``in`` values joined by ``|``).

    Raises
    ------
    ParameterError
        The text is not of that form.
    """
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0]:
        raise ParameterError(f"filter {text!r} is not of the form column:op:value")
    column, op = parts[0], parts[1]
    value: Any = parts[2] if len(parts) == 3 else None
    if op in ("in", "not_in") and value is not None:
        value = tuple(v for v in value.split("|") if v != "")
    return Condition(column, op, value)


def format_condition(c: Condition) -> str:
    """Inverse of :func:`parse_condition`."""
    if c.op in _NO_VALUE_OPS:
        return f"{c.column}:{c.op}"
    v = "|".join(map(str, c.value)) if isinstance(c.value, tuple) else str(c.value)
    return f"{c.column}:{c.op}:{v}"


def as_conditions(items: Sequence[Condition | str]) -> tuple[Condition, ...]:
    """Accept conditions or their compact strings."""
    return tuple(i if isinstance(i, Condition) else parse_condition(i) for i in items)
