"""Funnel steps: an event name (or several) plus property conditions, and their JSON form.

The JSON form is the shortest that reads back to the same step (``"name"``, ``["a", "b"]``, or
``[["a"], ["col:op:v"], "label"]``); :meth:`core.funnels.FunnelParams.to_query` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from core.errors import ParameterError
from core.filters import Condition, as_conditions, combine, format_condition, parse_condition

__all__ = ["FunnelStep", "step_from_json", "step_to_json"]


@dataclass(frozen=True)
class FunnelStep:
    """One funnel step: an event name (or any of several) plus property conditions.

    Parameters
    ----------
    event : str or tuple of str
        Event name(s) matched against the ``event`` column; a tuple means "any of these".
    where : tuple of Condition
        Property conditions the event must also meet (all of them), e.g.
        ``(Condition("category", "eq", "phones"),)``. Compact strings ``"category:eq:phones"``
        are accepted too.
    label : str, optional
        Display name; defaults to the event name(s) and conditions.

    Examples
    --------
    >>> FunnelStep("view_item", where=(Condition("category", "eq", "phones"),)).display_label
    'view_item where category = phones'
    """

    event: str | tuple[str, ...]
    where: tuple[Condition, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        event = self.event
        if isinstance(event, (list, tuple)):
            names = tuple(event)
            if len(names) == 1:
                event = names[0]
            else:
                event = names
        names = (event,) if isinstance(event, str) else tuple(event)
        if not names or any(not isinstance(n, str) or not n for n in names):
            raise ParameterError(
                f"a funnel step needs one or more non-empty event names, got {self.event!r}"
            )
        if len(set(names)) != len(names):
            event = tuple(dict.fromkeys(names)) if len(set(names)) > 1 else names[0]
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "where", as_conditions(tuple(self.where or ())))
        object.__setattr__(self, "label", str(self.label or ""))

    @property
    def events(self) -> tuple[str, ...]:
        """The event names this step matches."""
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)

    @property
    def display_label(self) -> str:
        """The label shown in tables and charts."""
        if self.label:
            return self.label
        text = " or ".join(self.events)
        if self.where:
            text += " where " + " and ".join(c.label() for c in self.where)
        return text

    def expr(self, schema: pl.Schema | dict[str, pl.DataType] | None = None) -> pl.Expr:
        """Boolean Polars expression: does an event match this step?

        Raises
        ------
        ParameterError
            A condition names a column that is not in ``schema``.
        """
        names = self.events
        match = pl.col("event") == names[0] if len(names) == 1 else pl.col("event").is_in(names)
        if self.where:
            match = match & combine(self.where, schema)
        return match.fill_null(False)

    @classmethod
    def coerce(cls, spec: Any, *, what: str = "step") -> FunnelStep:
        """Turn an event name, a list of names or a :class:`FunnelStep` into a step.

        Raises
        ------
        ParameterError
            ``spec`` is none of these.
        """
        if isinstance(spec, FunnelStep):
            return spec
        if isinstance(spec, str):
            return cls(spec)
        if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
            return cls(tuple(spec))
        raise ParameterError(
            f"each {what} must be an event name, a list of event names or a FunnelStep, "
            f"got {spec!r}"
        )


def step_to_json(s: FunnelStep) -> Any:
    """The shortest JSON form of a step: ``"name"``, ``["a", "b"]`` or
    ``[["a"], ["col:op:v"], "label"]``."""
    if not s.where and not s.label:
        return s.events[0] if len(s.events) == 1 else list(s.events)
    out: list = [list(s.events), [format_condition(c) for c in s.where]]
    if s.label:
        out.append(s.label)
    return out


def step_from_json(obj: Any) -> FunnelStep:
    """Inverse of :func:`step_to_json`.

    Raises
    ------
    ParameterError
        ``obj`` is none of the forms :func:`step_to_json` writes.
    """
    if isinstance(obj, str):
        return FunnelStep(obj)
    if isinstance(obj, list) and obj and all(isinstance(x, str) for x in obj):
        return FunnelStep(tuple(obj))
    if (
        not isinstance(obj, list)
        or not 2 <= len(obj) <= 3
        or not isinstance(obj[0], list)
        or not isinstance(obj[1], list)
    ):
        raise ParameterError(f"funnel step {obj!r} is not in the expected form")
    where = tuple(parse_condition(c) for c in obj[1])
    label = obj[2] if len(obj) > 2 else ""
    if not isinstance(label, str):
        raise ParameterError(f"funnel step label {label!r} is not text")
    return FunnelStep(tuple(obj[0]), where=where, label=label)
