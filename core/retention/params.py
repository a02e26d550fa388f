"""Settings of a retention analysis: :class:`RetentionParams`, validated once, when built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from core.errors import ParameterError
from core.funnels import FunnelStep
from core.params import Column, Interval, Options, Params

#: Period lengths a retention table can be cut into.
PERIODS: tuple[str, ...] = ("day", "week", "month")
#: "on": returned during period N; "unbounded": returned in period N or any later one shown.
MODES: tuple[str, ...] = ("on", "unbounded")
#: Most periods a table may have (a year of weeks, three years of months).
MAX_PERIODS = 53


def _step(spec: Any, what: str) -> FunnelStep | None:
    if spec is None or spec == "":
        return None
    return FunnelStep.coerce(spec, what=what)


@dataclass(frozen=True)
class RetentionParams(Params):
    """Everything a retention table depends on; frozen and hashable (a cache key).

    Parameters
    ----------
    start : FunnelStep, str, list of str or None
        What puts a user into a cohort: their first event matching it (an event name, several,
        or a :class:`~core.funnels.FunnelStep` with property conditions). ``None``: any event.
    returning : FunnelStep, str, list of str or None
        What counts as coming back. ``None``: any event.
    period : {"day", "week", "month"}
        Length of a cohort and of a return period. Weeks start on Monday (ISO).
    periods : int
        Columns of the table: period 0 (the cohort's own period) to ``periods - 1``.
    mode : {"on", "unbounded"}
        ``"on"``: a user counts in period N when they came back during period N.
        ``"unbounded"``: when they came back in period N or any later period shown.
    count_by : str
        The column that identifies a person (``user_id``).
    breakdown : str or None
        Column whose value on a user's cohort-defining event splits the table.
    breakdown_limit : int
        Largest breakdown groups kept; the others are pooled as ``"Other"``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "start": [FunnelStep, None],
        "returning": [FunnelStep, None],
        "period": [Options(PERIODS)],
        "periods": [Interval(int, 2, MAX_PERIODS)],
        "mode": [Options(MODES)],
        "count_by": [Column()],
        "breakdown": [Column(), None],
        "breakdown_limit": [Interval(int, 1, 50)],
    }

    start: FunnelStep | None = None
    returning: FunnelStep | None = None
    period: str = "week"
    periods: int = 8
    mode: str = "on"
    count_by: str = "user_id"
    breakdown: str | None = None
    breakdown_limit: int = 10

    def _normalise(self) -> None:
        self._set("start", _step(self.start, "start event"))
        self._set("returning", _step(self.returning, "returning event"))

    def _check(self) -> None:
        if self.breakdown is not None and self.breakdown == self.count_by:
            raise ParameterError(
                f"`breakdown` cannot be the column that identifies people ({self.count_by!r})"
            )

    def match(self, which: str, schema: pl.Schema) -> pl.Expr:
        """Boolean expression: does an event match the start (``which="start"``) or the
        returning definition? Any event when that definition is ``None``."""
        step = self.start if which == "start" else self.returning
        return pl.lit(True) if step is None else step.expr(schema)

    def label(self, which: str) -> str:
        """The start or returning definition in words (``"any event"`` when unset)."""
        step = self.start if which == "start" else self.returning
        return "any event" if step is None else step.display_label

    def compute(self, events: pl.DataFrame | pl.LazyFrame):
        """:func:`~core.retention.compute_retention` with these settings."""
        from core.retention.engine import run  # lazy: the engine imports this module (cycle)

        return run(events, self)
