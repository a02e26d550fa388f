"""Load what users really upload into the canonical event table.

:func:`load_events` reads a file (:mod:`core.io`), recognises the export format by its columns
(:mod:`core.formats`), maps and parses every canonical column, drops the rows it cannot use
and counts them per reason, builds sessions where the export has none, and returns the
canonical table (:mod:`core.schema`), its rows in file order, with a :class:`LoadReport` that
says what was read, kept, dropped and assumed. Nothing is lost silently:
``rows_read == rows_kept + sum(rows_dropped.values())``. Its settings are a
:class:`LoadParams`; ``LoadParams(...).compute(source)`` is the same load.

Rows are dropped for exactly one reason each, checked in this order: no user, no timestamp,
a timestamp that cannot be read, an implausible timestamp (before 1990 or after the end of next
year: a misread unit or a placeholder date), no event name, an exact duplicate of an earlier
row, and, only when asked (``drop_stray=True``), a stray timestamp: an event months outside the
bulk of the data (see :data:`STRAY_MARGIN`). Stray events are always counted and reported.

Modules, in the order the pipeline uses them: :mod:`~core.loader.params` (the settings),
:mod:`~core.loader.engine` (the pipeline), :mod:`~core.loader.mapping` (which column feeds
which), :mod:`~core.loader.plan` (the single pass), :mod:`~core.loader.values`,
:mod:`~core.loader.times` and :mod:`~core.loader.epochs` (parsing values),
:mod:`~core.loader.accounting` (dropped rows per reason, stray events),
:mod:`~core.loader.order` (duplicates; :func:`sort_events`, the store's order),
:mod:`~core.loader.kernels` (compiled first passes for large tables), :mod:`~core.loader.sessions`,
:mod:`~core.loader.properties` (typing extra columns), :mod:`~core.loader.report` (the result).
"""

from __future__ import annotations

from core.formats import canonical_event_type, detect_format, suggest_mapping, suggest_options
from core.io import read_columns, read_raw
from core.loader.accounting import (
    EARLIEST_PLAUSIBLE,
    STRAY_MARGIN,
    plausible_range,
    stray_bounds,
)
from core.loader.api import load_events
from core.loader.mapping import MAPPABLE, REQUIRED, USER_NULLS
from core.loader.order import _sort_order as _sort_order  # tests import it from here
from core.loader.order import sort_events
from core.loader.params import LoadParams
from core.loader.properties import _tighten_columns as _tighten_columns  # (tests)
from core.loader.report import (
    BAD_TS,
    DROP_REASONS,
    DUPLICATE,
    IMPLAUSIBLE_TS,
    MISSING_EVENT,
    MISSING_TS,
    MISSING_USER,
    STRAY_TS,
    LoadReport,
    LoadResult,
)
from core.loader.times import TimestampPlan, parse_timestamps, plan_timestamps

__all__ = [
    "BAD_TS",
    "DROP_REASONS",
    "DUPLICATE",
    "EARLIEST_PLAUSIBLE",
    "IMPLAUSIBLE_TS",
    "MAPPABLE",
    "MISSING_EVENT",
    "MISSING_TS",
    "MISSING_USER",
    "REQUIRED",
    "STRAY_MARGIN",
    "STRAY_TS",
    "USER_NULLS",
    "LoadParams",
    "LoadReport",
    "LoadResult",
    "TimestampPlan",
    "canonical_event_type",
    "detect_format",
    "load_events",
    "parse_timestamps",
    "plan_timestamps",
    "plausible_range",
    "read_columns",
    "read_raw",
    "sort_events",
    "stray_bounds",
    "suggest_mapping",
    "suggest_options",
]
