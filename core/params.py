"""Declarative parameter checks shared by every analysis's settings object.

Each analysis has one frozen settings dataclass (``FunnelParams``, ``PathsParams``,
``SegmentParams``, ``RulesParams``, ``CartParams``) that subclasses :class:`Params` and states
its rules once, in the class attribute ``_parameter_constraints`` (the pattern of
scikit-learn's ``_parameter_constraints``)::

    @dataclass(frozen=True)
    class TopParams(Params):
        _parameter_constraints: ClassVar = {
            "n": [Interval(int, 1, 100)],
            "by": [Column()],
            "order": [Options({"asc", "desc"})],
            "label": [str, None],
        }
        n: int = 10
        by: str = "event"
        order: str = "desc"
        label: str | None = None

The object checks itself when it is built (``__post_init__``), so a settings object that
exists is valid; the columns it names are checked against the events table once, by the engine,
with :meth:`Params.check_columns`. The engine takes the object and the result carries it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Self

import polars as pl

from core.errors import ParameterError, SchemaError

__all__ = [
    "Column",
    "Constraint",
    "Interval",
    "Options",
    "Params",
    "check_constraints",
    "require_columns",
]


class Constraint:
    """One allowed kind of value; ``describe()`` words it for an error message."""

    def is_satisfied_by(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class _InstanceOf(Constraint):
    def __init__(self, kind: type) -> None:
        self.kind = kind

    def is_satisfied_by(self, value: Any) -> bool:
        if self.kind in (int, float) and isinstance(value, bool):
            return False
        return isinstance(value, self.kind)

    def describe(self) -> str:
        return {str: "a string", bool: "True or False", int: "a whole number"}.get(
            self.kind, f"a {self.kind.__name__}"
        )


class _IsNone(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


class Interval(Constraint):
    """A number (or timedelta) between two bounds.

    Parameters
    ----------
    kind : type
        ``int`` (whole numbers only; ``True``/``False`` are refused), ``float`` (any real
        number, ints included, NaN and infinities refused) or ``timedelta``.
    left, right : number, timedelta or None
        Bounds; ``None`` leaves that side open.
    closed : {"both", "left", "right", "neither"}
        Which bounds are allowed values.
    """

    def __init__(
        self, kind: type, left: Any = None, right: Any = None, *, closed: str = "both"
    ) -> None:
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed={closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def _typed(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is float:  # (an int is finite; isfinite would overflow on 10**400)
            return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        return isinstance(value, self.kind)

    def is_satisfied_by(self, value: Any) -> bool:
        if not self._typed(value):
            return False
        if self.left is not None:
            ok = value >= self.left if self.closed in ("both", "left") else value > self.left
            if not ok:
                return False
        if self.right is not None:
            ok = value <= self.right if self.closed in ("both", "right") else value < self.right
            if not ok:
                return False
        return True

    def describe(self) -> str:
        what = {int: "a whole number", float: "a number", timedelta: "a duration"}.get(
            self.kind, f"a {self.kind.__name__}"
        )
        lo_sym = ">=" if self.closed in ("both", "left") else ">"
        hi_sym = "<=" if self.closed in ("both", "right") else "<"
        parts = []
        if self.left is not None:
            parts.append(f"{lo_sym} {self.left}")
        if self.right is not None:
            parts.append(f"{hi_sym} {self.right}")
        return what + (" " + " and ".join(parts) if parts else "")


class Options(Constraint):
    """One of a fixed set of values (compared with ``==``, order kept for the message)."""

    def __init__(self, options: Iterable[Any]) -> None:
        self.options = tuple(options)

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            return any(value == o and type(value) is type(o) for o in self.options)
        except Exception:  # noqa: BLE001 - an uncomparable value is simply not an option
            return False

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


class Column(Constraint):
    """The name of a column of the events table.

    Statically only a non-empty string; :meth:`Params.check_columns` checks that the table has
    it (the table is not known when the settings object is built).
    """

    def __init__(self, table: str = "events table") -> None:
        self.table = table

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value != ""

    def describe(self) -> str:
        return f"a column of the {self.table}"


def _as_constraint(c: Any) -> Constraint:
    if isinstance(c, Constraint):
        return c
    if c is None:
        return _IsNone()
    if isinstance(c, type):
        return _InstanceOf(c)
    raise TypeError(f"not a constraint: {c!r}")


def check_constraints(
    values: Mapping[str, Any], constraints: Mapping[str, Sequence[Any]], *, where: str = ""
) -> None:
    """Check each named value against its list of allowed kinds (any one suffices).

    Parameters
    ----------
    values : mapping
        Parameter name to value.
    constraints : mapping
        Parameter name to a list of :class:`Constraint` objects, types (``str``) or ``None``
        (the value may be None). Names missing from ``constraints`` are not checked.
    where : str
        Prefix for the message, e.g. ``"funnel "``.

    Raises
    ------
    ParameterError
        Naming the first parameter that fits none of its constraints, what it may be and the
        value given.

    Examples
    --------
    >>> check_constraints({"n": 3}, {"n": [Interval(int, 1, 5)]})
    >>> check_constraints({"n": 0}, {"n": [Interval(int, 1, 5)]})
    Traceback (most recent call last):
    ...
    core.errors.ParameterError: `n` must be a whole number >= 1 and <= 5, got 0
    """
    for name, allowed in constraints.items():
        if name not in values:
            continue
        value = values[name]
        cs = [_as_constraint(c) for c in allowed]
        if any(c.is_satisfied_by(value) for c in cs):
            continue
        text = " or ".join(c.describe() for c in cs)
        raise ParameterError(f"{where}`{name}` must be {text}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of the frozen settings objects: validated once, when built.

    Subclasses are frozen dataclasses that declare ``_parameter_constraints`` and may override
    :meth:`_normalise` to turn accepted spellings into the stored form (a list into a tuple,
    a string into a step) before the constraints are checked.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __post_init__(self) -> None:
        values = self.as_dict()
        unknown = set(self._parameter_constraints) - set(values)
        if unknown:  # a typo in the declaration would silently switch a check off
            raise TypeError(
                f"{type(self).__name__}._parameter_constraints names no field: {sorted(unknown)}"
            )
        self._normalise()
        check_constraints(self.as_dict(), self._parameter_constraints)
        self._check()

    def _normalise(self) -> None:
        """Coerce accepted spellings in place (``object.__setattr__``); default: nothing."""

    def _check(self) -> None:
        """Rules that involve several fields at once; default: nothing."""

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (shallow; nested objects are kept as they are)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def column_fields(self) -> list[str]:
        """Names of the fields whose constraints include :class:`Column`."""
        return [
            name
            for name, cs in self._parameter_constraints.items()
            if any(isinstance(c, Column) for c in cs)
        ]

    def check_columns(self, schema: pl.Schema | Mapping[str, Any]) -> None:
        """Check that every column the settings name is in ``schema``.

        Raises
        ------
        ParameterError
            Naming the field, the missing column and the columns that exist.
        """
        for name in self.column_fields():
            value = getattr(self, name)
            if value is not None and value not in schema:
                table = next(
                    c.table for c in self._parameter_constraints[name] if isinstance(c, Column)
                )
                raise ParameterError(
                    f"`{name}` must be a column of the {table}, got {value!r}; "
                    f"available: {sorted(schema)}"
                )


def require_columns(schema: pl.Schema | Mapping[str, Any], columns: Iterable[str]) -> None:
    """Raise :class:`~core.errors.SchemaError` naming the first required column missing.

    Examples
    --------
    >>> require_columns({"ts": 1, "event": 2}, ["ts", "event"])
    """
    for col in columns:
        if col not in schema:
            raise SchemaError(
                f"events table is missing required column {col!r}; found {list(schema)}"
            )
