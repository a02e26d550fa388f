"""What the loader returns: the canonical events and the report of how they were loaded.

Rows are dropped for exactly one reason each, checked in the order of :data:`DROP_REASONS`,
and every dropped row is counted: ``rows_read == rows_kept + sum(rows_dropped.values())``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from core.formats import FORMAT_LABELS, UNKNOWN

if TYPE_CHECKING:
    from core.loader.params import LoadParams

#: Reasons a row is dropped, in the order they are checked (each row counts once).
#: Reasons a row is dropped, in the order they are checked (each row counts once).
MISSING_USER: Final = "missing user"
MISSING_TS: Final = "missing timestamp"
BAD_TS: Final = "unparseable timestamp"
IMPLAUSIBLE_TS: Final = "implausible timestamp"
MISSING_EVENT: Final = "missing event name"
DUPLICATE: Final = "duplicate row"
STRAY_TS: Final = "stray timestamp"
DROP_REASONS: Final = (
    MISSING_USER,
    MISSING_TS,
    BAD_TS,
    IMPLAUSIBLE_TS,
    MISSING_EVENT,
    DUPLICATE,
    STRAY_TS,
)


@dataclass
class LoadReport:
    """What the loader read, kept, dropped and assumed.

    Attributes
    ----------
    source : str
        File name.
    file_kind : str
        How the file was read, e.g. ``"CSV, semicolon-separated, UTF-8, gzip"``.
    format : str
        Detected export format (``"rees46"``, ``"ga4"``, ``"generic"``...).
    format_label : str
        Its name for people.
    mapping : dict
        Canonical column -> source column actually used.
    options : dict
        Mapping options used (``event_constant``, ``ts_time``, ``ts_time_unit``,
        ``user_fallback``; see :func:`load_events`).
    rows_read : int
        Data rows in the file.
    rows_kept : int
        Rows in the canonical table.
    rows_dropped : dict
        Reason (:data:`DROP_REASONS`) -> rows; every reason is present, zeros included.
    ts_unit : str
        How timestamps were read: ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` (epochs), ``"text"``,
        ``"datetime"`` or ``"date"`` (typed columns), or ``""`` when nothing was read.
    ts_format : str or None
        The strptime format of text timestamps (``"%Y-%m-%d %H:%M:%S%.f UTC"``).
    ts_units : dict
        For epoch timestamps, unit -> values read in it (each value is read in the unit its
        magnitude implies, so a column mixing seconds and milliseconds reads right).
    stray_rows : int
        Events months outside the bulk of the data (before ``bulk_start - STRAY_MARGIN`` or
        after ``bulk_end + STRAY_MARGIN``), whether dropped (``drop_stray=True``, reason
        ``"stray timestamp"``) or kept.
    stray_dropped : bool
        Whether those events were dropped.
    bulk_start, bulk_end : datetime or None
        The 0.1% and 99.9% quantiles of the event times (at least one event outside each).
    warnings : list of str
        Things the user should check (assumptions, values set to null, dropped examples).
    notes : list of str
        Plain information (sessions built from inactivity gaps...).
    """

    source: str = ""
    file_kind: str = ""
    format: str = UNKNOWN
    format_label: str = FORMAT_LABELS[UNKNOWN]
    mapping: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_kept: int = 0
    rows_dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    ts_unit: str = ""
    ts_format: str | None = None
    ts_units: dict[str, int] = field(default_factory=dict)
    stray_rows: int = 0
    stray_dropped: bool = False
    bulk_start: datetime | None = None
    bulk_end: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_dropped_total(self) -> int:
        """All dropped rows, every reason together."""
        return sum(self.rows_dropped.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for dataset metadata)."""
        return {
            "source": self.source,
            "file_kind": self.file_kind,
            "format": self.format,
            "format_label": self.format_label,
            "mapping": dict(self.mapping),
            "options": dict(self.options),
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": dict(self.rows_dropped),
            "ts_unit": self.ts_unit,
            "ts_format": self.ts_format,
            "ts_units": dict(self.ts_units),
            "stray_rows": self.stray_rows,
            "stray_dropped": self.stray_dropped,
            "bulk_start": self.bulk_start.isoformat() if self.bulk_start else None,
            "bulk_end": self.bulk_end.isoformat() if self.bulk_end else None,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }

    def summary_lines(self) -> list[str]:
        """Short sentences for the Data page, most important first."""
        lines = [
            f"Read {self.rows_read:,} rows of {self.source or 'the upload'} ({self.file_kind}) "
            f"as {self.format_label}.",
        ]
        dropped = {k: v for k, v in self.rows_dropped.items() if v}
        if self.rows_read == 0:
            lines.append("The file has no data rows.")
        elif dropped:
            parts = ", ".join(f"{k}: {v:,}" for k, v in dropped.items())
            lines.append(
                f"Kept {self.rows_kept:,} rows; dropped {self.rows_dropped_total:,}: {parts}."
            )
        else:
            lines.append(f"Kept all {self.rows_kept:,} rows.")
        if self.mapping:
            lines.append(
                "Columns: " + ", ".join(f"{k} ← {v}" for k, v in self.mapping.items()) + "."
            )
        if self.ts_unit:
            how = {
                "s": "Unix seconds",
                "ms": "Unix milliseconds",
                "us": "Unix microseconds",
                "ns": "Unix nanoseconds",
                "datetime": "typed date-times",
                "date": "dates",
            }
            unit = how.get(self.ts_unit, f"text ({self.ts_format})")
            if len(self.ts_units) > 1:
                unit = (
                    "Unix times in mixed units, each by its magnitude ("
                    + ", ".join(f"{how[u].split()[1]}: {n:,}" for u, n in self.ts_units.items())
                    + ")"
                )
            lines.append(f"Timestamps read as {unit}.")
        return lines + self.notes + self.warnings


@dataclass(frozen=True)
class LoadResult:
    """The canonical events and the report of how they were loaded.

    Attributes
    ----------
    events : pl.DataFrame
        Canonical table (:mod:`core.schema`), sorted by ``user_id`` then ``ts`` (then file
        order), every extra input column kept after the canonical ones as a property.
    report : LoadReport
        Rows read, kept and dropped per reason, format, mapping, timestamp unit, warnings.
    params : LoadParams or None
        The settings the file was loaded with.
    """

    events: pl.DataFrame
    report: LoadReport
    params: LoadParams | None = None

    @property
    def reason(self) -> str | None:
        """Why the table is empty, or None when it holds events."""
        if self.events.height:
            return None
        if self.report.rows_read == 0:
            return f"{self.report.source or 'the file'} has column names but no data rows"
        return "every row was dropped: " + ", ".join(
            f"{k}: {v:,}" for k, v in self.report.rows_dropped.items() if v
        )
