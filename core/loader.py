"""Load what users really upload into the canonical event table.

:func:`load_events` reads a file (:mod:`core.io`), recognises the export format by its columns
(:mod:`core.formats`), maps and parses every canonical column, drops the rows it cannot use
and counts them per reason, builds sessions where the export has none, and returns the
canonical table (:mod:`core.schema`) sorted by user and time with a :class:`LoadReport` that
says what was read, kept, dropped and assumed. Nothing is lost silently:
``rows_read == rows_kept + sum(rows_dropped.values())``.

Rows are dropped for exactly one reason each, checked in this order: no user, no timestamp,
a timestamp that cannot be read, an implausible timestamp (before 1990 or after the end of next
year: a misread unit or a placeholder date), no event name, an exact duplicate of an earlier
row, and, only when asked (``drop_stray=True``), a stray timestamp: an event months outside the
bulk of the data (see :data:`STRAY_MARGIN`). Stray events are always counted and reported.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from core.errors import LoadError, ParameterError, SchemaError
from core.formats import (
    FORMAT_LABELS,
    FORMATS_BY_NAME,
    MAPPING_OPTIONS,
    TIME_UNITS,
    UNKNOWN,
    ExportFormat,
    canonical_event_type,
    detect_format,
    fallback_columns,
    suggest_mapping,
    suggest_options,
)
from core.io import (
    ROW_COLUMN,
    RawSource,
    Source,
    collect_raw,
    open_source,
    read_columns,
    read_raw,
    scan_raw,
)
from core.schema import CANONICAL_COLUMNS, CANONICAL_SCHEMA, UTC_US, conform, empty_events
from core.sessions import DEFAULT_SESSION_GAP

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

#: Earliest plausible event time; the latest is the end of next year (:func:`plausible_range`).
EARLIEST_PLAUSIBLE: Final = datetime(1990, 1, 1, tzinfo=UTC)
#: How far outside the bulk of the data (its 0.1%-99.9% quantile range) a stray event lies.
STRAY_MARGIN: Final = timedelta(days=60)
_STRAY_MIN_ROWS: Final = 20

#: Canonical columns a mapping may name, and those that must be found.
MAPPABLE: Final = tuple(c for c in CANONICAL_COLUMNS if c != "event_type")
REQUIRED: Final = ("user_id", "ts", "event")
#: User ids that mean "no user" (R's and pandas' missing values, JavaScript's undefined).
USER_NULLS: Final = ("NA", "N/A", "n/a", "null", "NULL", "None", "nan", "NaN", "undefined")

_EXAMPLES: Final = 5  # offending rows quoted in a message
_SAMPLE: Final = 2000  # distinct values used to recognise a timestamp format
_SAMPLE_ROWS: Final = 5000  # rows read first to decide how to parse each column


# --------------------------------------------------------------------------------------------
# results


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
    """

    events: pl.DataFrame
    report: LoadReport

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


# --------------------------------------------------------------------------------------------
# public API


def load_events(
    source: Source,
    *,
    mapping: dict[str, str] | None = None,
    session_gap: timedelta = DEFAULT_SESSION_GAP,
    drop_stray: bool = False,
    max_expanded_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> LoadResult:
    """Load an event-log export into the canonical event table.

    The file is read once, lazily, with every column parsed on the way (a first look at its
    first rows decides how); then the unusable rows are dropped and counted, exact duplicates
    removed, the table sorted once by user and time, and sessions built where missing.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        CSV (``,`` ``;`` tab or ``|``; UTF-8 with or without BOM, UTF-16, Latin-1 fallback),
        optionally ``.gz``/``.zip``; Parquet; JSON Lines. An uploaded file (Streamlit's
        ``UploadedFile``) works as is.
    mapping : dict, optional
        Canonical column -> source column, overriding detection for the columns it names
        (user corrections from the Data page). Keys among ``user_id``, ``session_id``, ``ts``,
        ``event``, ``product_id``, ``category``, ``brand``, ``price``, ``quantity``,
        ``order_id``; a value of ``None`` or ``""`` means "this file has no such column".
        Besides, options for exports that lack a column (:data:`core.formats.MAPPING_OPTIONS`,
        detected for known shapes, see :func:`core.formats.suggest_options`):
        ``event_constant`` -- every row is this event (``"view_item"``), for logs of one
        kind of event without an event column; ``ts_time`` -- a column added to the day
        in ``ts``: a time of day (``09:58:11``) or a number, an offset in ``ts_time_unit``
        (``"s"``, ``"ms"`` or ``"us"``; default ``"s"``); ``user_fallback`` -- a column
        (usually the visit) standing in for the user where it is empty, or for every row
        when no column is mapped to ``user_id``, written ``"<column>:<value>"``.
        User ids in :data:`USER_NULLS` (``NA``, ``null``...) count as empty.
    session_gap : timedelta, default 30 minutes
        Inactivity that ends a session, for exports (or rows) without a session id.
    drop_stray : bool, default False
        Drop the stray events (``report.stray_rows``: months before or after the bulk of the
        data, which stretch every time axis), counted under ``"stray timestamp"``. Without
        it they are kept and the report warns about them.
    max_expanded_bytes : int, optional
        Most bytes a compressed upload may expand to; default 4 GiB or
        ``PATHLENS_MAX_EXPANDED_MB`` mebibytes from the environment
        (:func:`core.io.max_expanded_bytes_default`). The expansion goes to a temporary file.
    progress : callable, optional
        Called as ``progress(stage, fraction)`` when a stage starts: ``"reading"`` (0.0: the
        pass over the file), ``"checking"`` (0.5: drop accounting, duplicates, the sort),
        ``"sessions"`` (0.85: session ids, event types), then ``"done"`` (0.95); ``fraction``
        is the share of the whole upload done so far (a caller that stores the table next
        reports ``"saving"`` up to 1.0). Exceptions it raises propagate.

    Returns
    -------
    LoadResult
        ``.events`` (canonical ``pl.DataFrame``) and ``.report`` (:class:`LoadReport`), with
        ``report.rows_read == report.rows_kept + sum(report.rows_dropped.values())``.
        A file with a header and no rows gives an empty table, with ``.reason``.

    Raises
    ------
    LoadError
        The file is missing, empty, binary or malformed; its columns match no known format
        and name no user, time and event; most timestamps cannot be read or are implausible
        (count, first rows and values); no row has a user or a timestamp; a compressed file
        expands beyond ``max_expanded_bytes``.
    SchemaError
        A required column (user, timestamp, event) cannot be found: names what was expected
        and what was found; or ``mapping`` names a column the file lacks.
    ParameterError
        ``mapping`` has an unknown key or a bad option value, ``session_gap`` is not a
        positive timedelta, ``drop_stray`` is not a bool or ``max_expanded_bytes`` is not a
        positive integer; ``progress`` is not callable.

    Examples
    --------
    >>> result = load_events("2019-Oct.csv")  # doctest: +SKIP
    >>> result.report.format, result.report.rows_dropped["duplicate row"]  # doctest: +SKIP
    ('rees46', 5)
    """
    if not isinstance(session_gap, timedelta) or session_gap <= timedelta(0):
        raise ParameterError(f"`session_gap` must be a positive timedelta, got {session_gap!r}")
    if not isinstance(drop_stray, bool):
        raise ParameterError(f"`drop_stray` must be True or False, got {drop_stray!r}")
    if progress is not None and not callable(progress):
        raise ParameterError(
            f"`progress` must be a function progress(stage, fraction) or None, got {progress!r}"
        )
    step = progress or (lambda stage, fraction: None)
    _check_mapping_keys(mapping)
    step("reading", 0.0)
    raw = open_source(source, max_expanded_bytes=max_expanded_bytes)
    columns = scan_raw(raw).collect_schema().names()
    fmt_name = detect_format(columns)
    fmt = FORMATS_BY_NAME.get(fmt_name)
    options = _resolve_options(columns, fmt_name, mapping, source_name=raw.name)
    used = _resolve_mapping(columns, fmt_name, fmt, mapping, source_name=raw.name, options=options)
    report = LoadReport(
        source=raw.name,
        format=fmt_name,
        format_label=FORMAT_LABELS[fmt_name],
        mapping=dict(used),
        options=dict(options),
    )
    if mapping:
        if fmt_name == UNKNOWN:
            report.format, report.format_label = "generic", "Event log (columns mapped by hand)"
        report.notes.append("Column mapping set by hand for: " + ", ".join(mapping) + ".")
    if fmt is not None and mapping and "user_id" in mapping:
        fmt = replace(fmt, user_fallback=())
    if fmt is not None and mapping and "event" in mapping:
        fmt = replace(fmt, event_fallback=())
    user_fb = (
        fallback_columns(columns, fmt.user_fallback, [used["user_id"]])
        if fmt is not None and "user_id" in used
        else []
    )
    event_fb = (
        fallback_columns(columns, fmt.event_fallback, [used["event"]])
        if fmt is not None and "event" in used
        else []
    )
    mapped = set(used.values()) | {options[k] for k in ("ts_time",) if k in options}
    extras = [c for c in columns if c not in mapped]
    renamed = _property_names(extras)
    if any(renamed[c] != c for c in extras):
        clash = [f"{c!r} as {renamed[c]!r}" for c in extras if renamed[c] != c]
        report.notes.append(
            "Kept source columns named like canonical columns under new "
            "names: " + ", ".join(clash) + "."
        )

    # A first look at the first rows decides how each column is parsed.
    option_cols = [options[k] for k in ("ts_time", "user_fallback") if k in options]
    needed = list(dict.fromkeys([*used.values(), *user_fb, *event_fb, *option_cols]))
    head, raw = collect_raw(raw, lambda lf: lf.select(needed).head(_SAMPLE_ROWS))
    ts_plan = plan_timestamps(head[used["ts"]], column=used["ts"])
    if "ts_time" in options:
        ts_plan = replace(
            ts_plan, warnings=tuple(w for w in ts_plan.warnings if "without times" not in w)
        )
    if ts_plan.kind == "empty" and head.height == _SAMPLE_ROWS:  # blank at first: look further
        ts_col = used["ts"]
        later, raw = collect_raw(
            raw,
            lambda lf: lf.select(ts_col).filter(_text(pl.col(ts_col)).is_not_null()).head(_SAMPLE),
        )
        ts_plan = plan_timestamps(later[ts_col], column=ts_col)
    plan = _Plan(
        used=used,
        fmt=fmt,
        user_fb=user_fb,
        event_fb=event_fb,
        extras=extras,
        renamed=renamed,
        ts=ts_plan,
        head=head,
        options=options,
    )
    report.notes.extend(_option_notes(plan))

    df, raw = collect_raw(raw, plan.build, row_index=True)
    if df.height and ts_plan.kind == "text":
        wider = _widen_text_plan(df, raw, plan)
        if wider is not None:  # more layouts found among the failures: read once more
            del df
            plan = replace(plan, ts=wider)
            df, raw = collect_raw(raw, plan.build, row_index=True)
    report.file_kind = raw.description
    report.warnings.extend(raw.warnings)
    report.warnings.extend(plan.ts.warnings)
    report.ts_unit, report.ts_format = plan.ts.unit, plan.ts.format
    report.rows_read = df.height
    if df.height == 0:
        report.warnings.append(f"{raw.name!r} has column names but no data rows.")
        props = {renamed[c]: df.schema[renamed[c]] for c in extras}
        step("done", 0.95)
        return LoadResult(empty_events(props), report)
    parsed = [df]  # _finish takes the only reference, so it can free the frame as it goes
    del df
    step("checking", 0.5)
    events = _finish(parsed, raw, plan, report, session_gap, drop_stray=drop_stray, step=step)
    step("done", 0.95)
    report.rows_kept = events.height
    if report.rows_read != report.rows_kept + report.rows_dropped_total:  # pragma: no cover
        raise AssertionError("loader accounting is off: rows read != kept + dropped")
    return LoadResult(events, report)


# --------------------------------------------------------------------------------------------
# mapping


def _check_mapping_keys(mapping: dict[str, str] | None) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, dict):
        raise ParameterError(
            f"`mapping` must be a dict of canonical column -> source column, "
            f"got {type(mapping).__name__}"
        )
    bad = [k for k in mapping if k not in MAPPABLE and k not in MAPPING_OPTIONS]
    if bad:
        raise ParameterError(
            f"`mapping` has unknown canonical column(s) {bad}; valid keys are {list(MAPPABLE)} "
            f"and the options {list(MAPPING_OPTIONS)}"
        )
    unit = mapping.get("ts_time_unit")
    if unit not in (None, "") and unit not in TIME_UNITS:
        raise ParameterError(
            f"`mapping['ts_time_unit']` must be one of {list(TIME_UNITS)}, got {unit!r}"
        )
    constant = mapping.get("event_constant")
    if constant is not None and not isinstance(constant, str):
        raise ParameterError(
            f"`mapping['event_constant']` must be an event name (text), got {constant!r}"
        )


def _resolve_options(
    columns: list[str], fmt_name: str, mapping: dict[str, str] | None, *, source_name: str
) -> dict[str, str]:
    """The options the format implies, overridden by ``mapping`` (``None``/``""`` removes)."""
    options = suggest_options(columns, format=fmt_name)
    mapping = mapping or {}
    if mapping.get("event") and "event_constant" not in mapping:
        options.pop("event_constant", None)  # an event column mapped by hand wins
    for key in MAPPING_OPTIONS:
        if key not in mapping:
            continue
        value = mapping[key]
        if value is None or (isinstance(value, str) and not value.strip()):
            options.pop(key, None)
            continue
        if key in ("ts_time", "user_fallback") and value not in columns:
            raise SchemaError(
                f"`mapping` takes {key} from column {value!r}, which {source_name!r} does not "
                f"have; its columns are {columns}",
                code="missing_column",
            )
        options[key] = value.strip() if key == "event_constant" else value
    if "ts_time" not in options:
        options.pop("ts_time_unit", None)
    return options


def _option_notes(plan: _Plan) -> list[str]:
    options, used = plan.options, plan.used
    notes = []
    if "event_constant" in options and "event" not in used:
        notes.append(
            f"The export has no event column: every row is a {options['event_constant']!r} event."
        )
    if "ts_time" in options:
        if plan.time_kind == "offset":
            unit = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}[
                options.get("ts_time_unit", "s")
            ]
            how = f"plus the offset in {options['ts_time']!r} ({unit})"
        else:
            how = f"at the time of day in {options['ts_time']!r}"
        notes.append(f"Timestamps are the day in {used['ts']!r} {how}.")
    if "user_fallback" in options:
        col = options["user_fallback"]
        if "user_id" not in used:
            notes.append(
                f"The export has no user column: each {col!r} stands for its own user "
                f"(user ids '{col}:<value>')."
            )
        else:
            notes.append(
                f"Rows without a user in {used['user_id']!r} (empty or {USER_NULLS[0]!r}...) take "
                f"'{col}:<value>' as their user."
            )
    return notes


def _resolve_mapping(
    columns: list[str],
    fmt_name: str,
    fmt: ExportFormat | None,
    mapping: dict[str, str] | None,
    *,
    source_name: str,
    options: dict[str, str],
) -> dict[str, str]:
    used = suggest_mapping(columns, format=fmt_name)
    mapping = {k: v for k, v in (mapping or {}).items() if k not in MAPPING_OPTIONS}
    for canon, src in (mapping or {}).items():
        if src is None or src == "":
            used.pop(canon, None)
            continue
        if src not in columns:
            raise SchemaError(
                f"`mapping` maps {canon} to column {src!r}, which {source_name!r} does not "
                f"have; its columns are {columns}",
                code="missing_column",
            )
        for other, s in list(used.items()):  # a source column feeds one canonical column
            if s == src and other != canon:
                del used[other]
        used[canon] = src
    order_lines = fmt is not None and fmt.order_lines
    required = [
        c
        for c in REQUIRED
        if not (c == "event" and (order_lines or "event_constant" in options))
        and not (c == "user_id" and "user_fallback" in options)
    ]
    missing = [c for c in required if c not in used]
    if missing:
        expected = "; ".join(
            f"{c}: a column named like {list(_SHOWN_SYNONYMS[c])}" for c in missing
        )
        if fmt_name == UNKNOWN and len(missing) == len(required) and not mapping:
            raise LoadError(
                f"unknown format: the columns of {source_name!r} ({columns}) match no export "
                "PathLens knows (REES46, RetailRocket, Taobao, GA4, Mixpanel, Amplitude, "
                f"Segment, order lines) and name no user, time or event. Expected {expected}; "
                "or map the columns by hand.",
                code="unknown_format",
            )
        raise SchemaError(
            f"{source_name!r} has no column for required {missing}: expected {expected}; "
            f"found {columns}. Map it by hand.",
            code="missing_column",
        )
    return {c: used[c] for c in MAPPABLE if c in used}


_SHOWN_SYNONYMS: Final = {
    "user_id": ("user_id", "customer_id", "visitor_id", "distinct_id", "user_pseudo_id"),
    "ts": ("timestamp", "event_time", "time", "created_at", "date"),
    "event": ("event", "event_name", "event_type", "action", "behavior_type"),
}


def _property_names(extras: list[str]) -> dict[str, str]:
    """Extra columns keep their names unless a canonical column has it (then ``raw_<name>``)."""
    taken = set(CANONICAL_SCHEMA) | set(extras)
    out = {}
    for c in extras:
        name = c
        if c in CANONICAL_SCHEMA or c.startswith("__"):
            base = f"raw_{c.lstrip('_')}"
            name, k = base, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
        out[c] = name
    return out


# --------------------------------------------------------------------------------------------
# the single pass: expressions that parse every column while the file is read


def _text(e: pl.Expr) -> pl.Expr:
    """Stripped text, blank -> null."""
    return e.cast(pl.String).str.strip_chars().replace("", None)


def _padded(head: pl.Series) -> bool:
    """Whether text values carry surrounding whitespace or are blank, judged on the head."""
    if head.dtype != pl.String:
        return False
    values = head.drop_nulls()
    return bool(values.len()) and bool(values.str.contains(r"^\s|\s$|^$").any())


def _float_suffix(head: pl.Series) -> bool:
    """Whether an id column is written as floats (``17850.0``), judged on its first rows."""
    if head.dtype.is_float():
        return True
    if head.dtype != pl.String:
        return False
    v = head.drop_nulls().str.strip_chars()
    v = v.filter(v != "")
    return bool(v.len()) and bool(v.str.contains(r"^-?\d+\.0$").all())


def _id_expr(e: pl.Expr, head: pl.Series) -> pl.Expr:
    """Ids as text; ``17850.0`` -> ``17850`` when the column is written as floats.

    ``e`` is already cleaned text (:func:`_text`) when the source is text.
    """
    if head.dtype.is_float():
        # whole floats become integers, others keep their decimal text
        return (
            pl.when(e == e.round(0))
            .then(e.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(e.cast(pl.String))
        )
    t = e.cast(pl.String)
    if _float_suffix(head):
        return pl.when(t.str.contains(r"^-?\d+\.0$")).then(t.str.strip_suffix(".0")).otherwise(t)
    return t


_NUMBER_RE: Final = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_TIMES_OF_DAY: Final = ("%H:%M:%S", "%H:%M", "%H:%M:%S%.f", "%I:%M:%S %p", "%I:%M %p")
_EURO: Final = r"^-?\d{1,3}(\.\d{3})*,\d+$|^-?\d+,\d+$"
_THOUSANDS: Final = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"


def _needs_cleaning(head: pl.Series) -> bool:
    if head.dtype != pl.String:
        return False
    v = head.drop_nulls().str.strip_chars()
    v = v.filter(v != "")
    return bool(v.len()) and not bool(v.str.contains(_NUMBER_RE).all())


def _number_expr(e: pl.Expr, head: pl.Series) -> pl.Expr:
    """Float64 from numbers or text; text may carry a currency sign, a decimal comma
    (``3,50``, ``1.234,50``) or thousands commas (``1,234.50``) when its first rows do.
    ``e`` is already cleaned text when the source is text."""
    if head.dtype.is_numeric():
        return e.cast(pl.Float64)
    t = e
    if not _needs_cleaning(head):
        return t.cast(pl.Float64, strict=False)
    c = t.str.replace_all(r"[^\d,.\-]", "")
    cleaned = (
        pl.when(c.str.contains(_EURO))
        .then(c.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
        .when(c.str.contains(_THOUSANDS))
        .then(c.str.replace_all(",", "", literal=True))
        .otherwise(c)
    )
    return t.cast(pl.Float64, strict=False).fill_null(cleaned.cast(pl.Float64, strict=False))


@dataclass(frozen=True)
class _Plan:
    """How to turn the source columns into canonical ones, decided on the first rows."""

    used: dict[str, str]
    fmt: ExportFormat | None
    user_fb: list[str]
    event_fb: list[str]
    extras: list[str]
    renamed: dict[str, str]
    ts: TimestampPlan
    head: pl.DataFrame
    options: dict[str, str] = field(default_factory=dict)

    def col(self, canon: str) -> pl.Expr:
        return pl.col(self.used[canon])

    @property
    def time_kind(self) -> str | None:
        """``"offset"`` (numbers) or ``"time"`` (times of day) for the ``ts_time`` column."""
        if "ts_time" not in self.options:
            return None
        head = self.head[self.options["ts_time"]]
        if head.dtype.is_numeric():
            return "offset"
        values = head.drop_nulls().cast(pl.String).str.strip_chars()
        values = values.filter(values != "")
        numeric = values.str.contains(_NUMBER_RE)
        return "offset" if values.len() and int(numeric.sum()) * 2 >= values.len() else "time"

    def primary_user(self) -> pl.Expr | None:
        if "user_id" not in self.used:
            return None
        user = _id_expr(self.col("user_id"), self.head[self.used["user_id"]])
        return pl.when(~user.is_in(USER_NULLS)).then(user)

    def user_expr(self) -> pl.Expr:
        parts = [_id_expr(pl.col(c), self.head[c]) for c in self.user_fb]
        primary = self.primary_user()
        if primary is not None:
            parts.insert(0, primary)
        if "user_fallback" in self.options:
            col = self.options["user_fallback"]
            visit = _text(_id_expr(pl.col(col), self.head[col]))
            parts.append(pl.lit(f"{col}:") + visit)
        return pl.coalesce(parts)

    def ts_expr(self) -> tuple[pl.Expr, pl.Expr]:
        """The timestamp and whether the source holds one (day and time when combined)."""
        ts = self.ts.expr(self.col("ts"), clean=True)
        present = self.col("ts").is_not_null()
        kind = self.time_kind
        if kind is None:
            return ts, present
        col = self.options["ts_time"]
        raw = pl.col(col)
        if kind == "offset":
            factor = {"s": 1e6, "ms": 1e3, "us": 1.0}[self.options.get("ts_time_unit", "s")]
            num = (raw if self.head[col].dtype.is_numeric() else _text(raw)).cast(
                pl.Float64, strict=False
            )
            us = pl.when(num.is_finite() & (num.abs() * factor < 1e17)).then(
                (num * factor).round(0).cast(pl.Int64)
            )
            combined = ts + pl.duration(microseconds=us)
        else:
            t = _text(raw)
            time = pl.coalesce(
                [t.str.to_time(f, strict=False) for f in _TIMES_OF_DAY]  # type: ignore[arg-type]
            )
            combined = (
                ts.dt.replace_time_zone(None).dt.combine(time).dt.replace_time_zone("UTC")
            ).cast(UTC_US)
        return combined, present & _text(raw).is_not_null()

    def event_expr(self) -> pl.Expr:
        if "event" not in self.used and "event_constant" in self.options:
            return pl.lit(self.options["event_constant"], dtype=pl.String)
        if "event" not in self.used:  # order lines: a purchase per line, a return is a refund
            refund = pl.lit(False)
            if "quantity" in self.used:
                qty = _number_expr(self.col("quantity"), self.head[self.used["quantity"]])
                refund = refund | (qty < 0).fill_null(False)
            if "order_id" in self.used:
                oid = self.col("order_id").cast(pl.String)
                refund = refund | oid.str.starts_with("C").fill_null(False)
            return pl.when(refund).then(pl.lit("refund")).otherwise(pl.lit("purchase"))
        return pl.coalesce(
            [self.col("event").cast(pl.String), *(pl.col(c).cast(pl.String) for c in self.event_fb)]
        )

    def build(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """The pass over the file: text sources are cleaned once (stripped, blank -> null)
        where their first rows show padding, then every canonical column is parsed.

        Empty CSV fields are null as read; stripping every value of every column would cost
        about as much as reading the file, so it is done only where the first rows need it.
        """
        used, head = self.used, self.head
        sources = dict.fromkeys([*used.values(), *self.user_fb, *self.event_fb])
        schema = lf.collect_schema()
        lf = lf.with_columns(
            _text(pl.col(c)) for c in sources if schema[c] == pl.String and _padded(head[c])
        )
        ts, ts_present = self.ts_expr()
        exprs: list[pl.Expr] = [
            pl.col(ROW_COLUMN),
            self.user_expr().alias("user_id"),
            ts.alias("ts"),
            self.event_expr().alias("event"),
            ts_present.alias("__ts_present"),
        ]
        unit = self.ts.unit_code(self.col("ts"), clean=True)
        if unit is not None:
            exprs.append(unit.alias("__ts_unit"))
        primary = self.primary_user()
        if primary is not None and (self.user_fb or "user_fallback" in self.options):
            exprs.append(primary.is_null().alias("__user_filled"))
        for canon in ("product_id", "order_id"):
            if canon in used:
                exprs.append(_id_expr(self.col(canon), head[used[canon]]).alias(canon))
        for canon in ("category", "brand"):
            if canon in used:
                exprs.append(self.col(canon).cast(pl.String).alias(canon))
        for canon in ("price", "quantity"):
            if canon in used:
                num = _number_expr(self.col(canon), head[used[canon]])
                present = self.col(canon).is_not_null()
                if canon == "quantity":
                    whole = num == num.round(0)
                    exprs.append(pl.when(whole).then(num).cast(pl.Int64, strict=False).alias(canon))
                    bad = present & ~whole.fill_null(False)
                else:
                    exprs.append(num.alias(canon))
                    bad = present & num.is_null()
                exprs.append(bad.alias(f"__bad_{canon}"))
        if "session_id" in used:
            sid = _id_expr(self.col("session_id"), head[used["session_id"]])
            if self.fmt is not None and self.fmt.session_null:
                sid = pl.when(~sid.is_in(list(self.fmt.session_null))).then(sid)
            exprs.append(sid.alias("__session"))
        exprs += [pl.col(c).alias(self.renamed[c]) for c in self.extras]
        return lf.select(exprs)


# --------------------------------------------------------------------------------------------
# after the pass: accounting, duplicates, the one sort, sessions, event types


def _finish(
    parsed: list[pl.DataFrame],
    raw: RawSource,
    plan: _Plan,
    report: LoadReport,
    session_gap: timedelta,
    *,
    drop_stray: bool = False,
    step: Callable[[str, float], None] = lambda stage, fraction: None,
) -> pl.DataFrame:
    df = parsed.pop()
    used, n = plan.used, df.height
    rows = df[ROW_COLUMN]
    missing_user = df["user_id"].is_null()
    present = df["__ts_present"]
    has_ts = df["ts"].is_not_null()
    earliest, latest = plausible_range()
    plausible = df.select(pl.col("ts").is_between(earliest, latest, closed="left")).to_series()
    plausible = plausible.fill_null(False)
    missing_ts = ~missing_user & ~present
    bad_ts = ~missing_user & present & ~has_ts
    implausible = ~missing_user & has_ts & ~plausible
    missing_event = ~missing_user & plausible & df["event"].is_null()
    counts = {
        MISSING_USER: int(missing_user.sum()),
        MISSING_TS: int(missing_ts.sum()),
        BAD_TS: int(bad_ts.sum()),
        IMPLAUSIBLE_TS: int(implausible.sum()),
        MISSING_EVENT: int(missing_event.sum()),
    }
    if "__ts_unit" in df.columns:
        units = df.filter(plausible)["__ts_unit"].value_counts(sort=True)
        names = [u for u, _ in _EPOCH_LIMITS]
        report.ts_units = {names[code]: int(k) for code, k in units.iter_rows() if code is not None}
        if len(report.ts_units) > 1:
            shown = ", ".join(f"{k:,} in Unix {u}" for u, k in report.ts_units.items())
            report.warnings.append(
                f"Timestamps in {used['ts']!r} mix units ({shown}); each value was read in "
                "the unit its magnitude implies."
            )
    with_ts = int(present.sum())
    if counts[MISSING_USER] == n:
        raise LoadError(
            f"no row has a user: column {_user_source(plan)!r} (mapped to user_id) is "
            f"empty in all {n:,} rows; map another column to user_id",
            code="no_users",
        )
    if with_ts == 0:
        raise LoadError(
            f"no row has a timestamp: column {used['ts']!r} (mapped to ts) is empty "
            f"in all {n:,} rows; map another column to ts",
            code="no_timestamps",
        )
    unreadable = present & ~has_ts
    n_unreadable = int(unreadable.sum())
    n_implausible = int((has_ts & ~plausible).sum())
    if n_implausible * 2 > with_ts and n_implausible >= n_unreadable:
        raise LoadError(
            f"the timestamps in column {used['ts']!r} are mostly implausible: "
            f"{n_implausible:,} of {with_ts:,} values fall before {earliest:%Y-%m-%d} or "
            f"after {latest - timedelta(days=1):%Y-%m-%d}, "
            f"{_examples(rows, has_ts & ~plausible, raw=raw, column=used['ts'])}. "
            "Check that the column holds event times (Unix seconds, milliseconds or "
            "microseconds, or dates), or map another column to ts",
            code="implausible_timestamps",
        )
    if (n_unreadable + n_implausible) * 2 > with_ts:
        raise LoadError(
            f"could not read the timestamps in column {used['ts']!r}: {n_unreadable:,} of "
            f"{with_ts:,} values are unparseable, "
            f"{_examples(rows, unreadable, raw=raw, column=used['ts'])}. Expected Unix "
            "seconds, milliseconds or microseconds, or dates such as 2024-01-31 12:00:00, "
            "2024-01-31T12:00:00Z or 31/01/2024 12:00",
            code="bad_timestamps",
        )
    for reason, mask, what, column in (
        (MISSING_USER, missing_user, f"no user ({_user_source(plan)} empty)", None),
        (MISSING_TS, missing_ts, f"no timestamp ({used['ts']} empty)", None),
        (BAD_TS, bad_ts, f"a timestamp in {used['ts']!r} that cannot be read", used["ts"]),
        (
            IMPLAUSIBLE_TS,
            implausible,
            f"an implausible timestamp in {used['ts']!r} (before {earliest:%Y-%m-%d} or after "
            f"{latest - timedelta(days=1):%Y-%m-%d}: a misread unit or a placeholder date)",
            used["ts"],
        ),
        (MISSING_EVENT, missing_event, f"no event name ({used.get('event', 'event')} empty)", None),
    ):
        if counts[reason]:
            report.warnings.append(
                f"Dropped {counts[reason]:,} rows with {what}, "
                f"{_examples(rows, mask, raw=raw, column=column)}."
            )
    for canon in ("price", "quantity"):
        flag = f"__bad_{canon}"
        if flag in df.columns and (n_bad := int(df[flag].sum())):
            kind = "whole numbers" if canon == "quantity" else "numbers"
            report.warnings.append(
                f"{n_bad:,} values of {used[canon]!r} (mapped to {canon}) are not {kind} and "
                f"were left empty, {_examples(rows, df[flag], raw=raw, column=used[canon])}."
            )
    if "__user_filled" in df.columns:
        n_filled = int((df["__user_filled"] & ~missing_user).sum())
        if n_filled:
            report.notes.append(
                f"{n_filled:,} rows without {used['user_id']!r} took their user from "
                f"{' / '.join(repr(c) for c in _fallback_sources(plan))}."
            )

    keep = ~(missing_user | missing_ts | bad_ts | implausible | missing_event)
    frame = df.drop(
        [c for c in df.columns if c.startswith("__") and c not in (ROW_COLUMN, "__session")]
    )
    del df
    holder = [frame]
    del frame
    if not bool(keep.all()):
        holder.append(_filter_columns(holder, keep))
    frame = _sort(holder)
    holder.append(frame)
    del frame
    if plan.fmt is not None and plan.fmt.keep_repeats:
        frame, dup_rows = holder.pop(), pl.Series(ROW_COLUMN, [], dtype=pl.UInt32)
        n_repeats = _repeated_rows(frame)
        if n_repeats:
            report.notes.append(
                f"{n_repeats:,} lines repeat an earlier line exactly; they were kept as further "
                "units of the same item (a till export without quantities writes one line per "
                "unit)."
            )
    else:
        frame, dup_rows = _drop_duplicates(holder)
    counts[DUPLICATE] = dup_rows.len()
    if counts[DUPLICATE]:
        first = dup_rows.sort().head(_EXAMPLES).to_list()
        more = " ..." if dup_rows.len() > len(first) else ""
        report.warnings.append(
            f"Dropped {counts[DUPLICATE]:,} rows that repeat an earlier row exactly, first at "
            f"data row{'s' if len(first) > 1 else ''} {', '.join(map(str, first))}{more}."
        )
    holder.append(frame)
    del frame
    frame = _stray(holder, report, drop=drop_stray)
    counts[STRAY_TS] = report.stray_rows if drop_stray else 0
    report.rows_dropped = {r: counts.get(r, 0) for r in DROP_REASONS}

    if "event" not in used and "event_constant" not in plan.options:
        n_ref = int((frame["event"] == "refund").sum())
        report.notes.append(
            "Order-line export: every row became a 'purchase' event"
            + (
                f"; {n_ref:,} returns (negative quantity or an invoice starting with 'C') "
                "became 'refund' events, event_type 'other'"
                if n_ref
                else ""
            )
            + "."
        )
    step("sessions", 0.85)
    frame = _sessions(frame, plan, report, session_gap)
    names = frame["event"].unique().drop_nulls().to_list()
    lookup = {name: canonical_event_type(name) for name in names}
    frame = frame.with_columns(
        pl.col("event")
        .replace_strict(lookup, default="other", return_dtype=pl.String)
        .alias("event_type")
    )
    other = sorted(k for k, v in lookup.items() if v == "other")
    if other:
        shown = ", ".join(repr(o) for o in other[:10]) + (" ..." if len(other) > 10 else "")
        report.notes.append(
            f"{len(other)} event name(s) are no e-commerce step and have "
            f"event_type 'other': {shown}."
        )
    frame = frame.drop(ROW_COLUMN)
    text_props = [
        plan.renamed[c]
        for c in plan.extras
        if frame[plan.renamed[c]].dtype == pl.String and not _ID_LIKE.search(c)
    ]
    frame = frame.with_columns(_tighten_columns(frame, text_props))
    return conform(frame)  # type: ignore[return-value]


def _user_source(plan: _Plan) -> str:
    return plan.used.get("user_id") or plan.options.get("user_fallback", "user_id")


def _fallback_sources(plan: _Plan) -> list[str]:
    extra = [plan.options["user_fallback"]] if "user_fallback" in plan.options else []
    return [*plan.user_fb, *extra]


def plausible_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Event times the loader accepts: from 1990-01-01 to the end of next year (UTC).

    Parameters
    ----------
    now : datetime, optional
        The current time (default: now).

    Returns
    -------
    (datetime, datetime)
        Inclusive start and exclusive end, both UTC.
    """
    year = (now or datetime.now(UTC)).year
    return EARLIEST_PLAUSIBLE, datetime(year + 2, 1, 1, tzinfo=UTC)


def stray_bounds(ts: pl.Series) -> tuple[datetime, datetime] | None:
    """The bulk of the event times: their 0.1% and 99.9% quantiles, but at least one event
    outside each end (the ``k``-th earliest and latest time, ``k = max(1, ceil(n / 1000))``).

    Events more than :data:`STRAY_MARGIN` before the first or after the second are stray.
    None for fewer than 20 times, where a "bulk" means little.

    Parameters
    ----------
    ts : pl.Series
        Event times (``Datetime``), in any order; nulls are ignored.

    Returns
    -------
    (datetime, datetime) or None
    """
    t = ts.drop_nulls()
    n = t.len()
    if n < _STRAY_MIN_ROWS:
        return None
    k = max(1, math.ceil(n / 1000))
    epoch = t.dt.epoch("us")
    lo = epoch.bottom_k(k + 1).max()
    hi = epoch.top_k(k + 1).min()
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(lo))  # type: ignore[arg-type]
    end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(hi))  # type: ignore[arg-type]
    return start, end


def _stray(holder: list[pl.DataFrame], report: LoadReport, *, drop: bool) -> pl.DataFrame:
    """Flag (and with ``drop``, remove) events months outside the bulk of the data."""
    frame = holder.pop()
    bounds = stray_bounds(frame["ts"])
    if bounds is None:
        return frame
    report.bulk_start, report.bulk_end = bounds
    lo, hi = bounds[0] - STRAY_MARGIN, bounds[1] + STRAY_MARGIN
    stray = frame.select((pl.col("ts") < lo) | (pl.col("ts") > hi)).to_series()
    n_stray = int(stray.sum())
    report.stray_rows = n_stray
    if not n_stray:
        return frame
    before = int((frame["ts"] < lo).sum())
    after = n_stray - before
    side = " and ".join(
        part
        for part in (
            f"{before:,} before {bounds[0]:%Y-%m-%d}" if before else "",
            f"{after:,} after {bounds[1]:%Y-%m-%d}" if after else "",
        )
        if part
    )
    idx = stray.arg_true().head(_EXAMPLES)
    shown = ", ".join(
        f"{r} ({t:%Y-%m-%d %H:%M})"
        for r, t in zip(
            frame[ROW_COLUMN].gather(idx).to_list(), frame["ts"].gather(idx).to_list(), strict=True
        )
    )
    more = " ..." if n_stray > len(idx) else ""
    what = (
        f"{n_stray:,} stray event(s) lie more than {STRAY_MARGIN.days} days outside the bulk "
        f"of the data ({bounds[0]:%Y-%m-%d} to {bounds[1]:%Y-%m-%d}): {side}, at data "
        f"row(s) {shown}{more}"
    )
    if drop:
        report.stray_dropped = True
        report.warnings.append(f"Dropped {what}.")
        holder.append(frame)
        del frame
        return _filter_columns(holder, ~stray)
    report.warnings.append(
        f"{what}. They stretch every time axis; drop them with drop_stray=True "
        "('Drop stray timestamps' on the Data page)."
    )
    return frame


def _repeated_rows(frame: pl.DataFrame) -> int:
    """Rows equal to an earlier row in every column but the row number."""
    data = [c for c in frame.columns if c != ROW_COLUMN]
    return int((~frame.select(pl.struct(data).is_first_distinct()).to_series()).sum())


def _drop_duplicates(holder: list[pl.DataFrame]) -> tuple[pl.DataFrame, pl.Series]:
    """Drop rows equal to an earlier row in every column read; returns their row numbers.

    The frame (taken out of ``holder``) is sorted by user, time and file order, so duplicates
    sit in runs of equal (user, time): only those runs are compared in full, and the first
    row of the file wins.
    """
    frame = holder.pop()
    user, ts = pl.col("user_id"), pl.col("ts")
    same = ((user == user.shift(1)) & (ts == ts.shift(1))).fill_null(False)
    candidates = frame.select(same | same.shift(-1).fill_null(False)).to_series()
    if not bool(candidates.any()):
        return frame, pl.Series(ROW_COLUMN, [], dtype=pl.UInt32)
    idx = candidates.arg_true()
    sub = frame[idx]
    data = [c for c in sub.columns if c != ROW_COLUMN]
    later = ~sub.select(pl.struct(data).is_first_distinct()).to_series()
    if not bool(later.any()):
        return frame, pl.Series(ROW_COLUMN, [], dtype=pl.UInt32)
    keep = pl.repeat(True, frame.height, eager=True).scatter(idx.filter(later), False)
    dropped = sub[ROW_COLUMN].filter(later)
    del sub
    holder.append(frame)
    del frame
    return _filter_columns(holder, keep), dropped


def _filter_columns(holder: list[pl.DataFrame], keep: pl.Series) -> pl.DataFrame:
    """``frame.filter(keep)`` one column at a time for the frame in ``holder`` (its only
    reference), so unfiltered columns are freed as it goes."""
    frame = holder.pop()
    columns = frame.get_columns()
    del frame
    for i in range(len(columns)):
        columns[i] = columns[i].filter(keep)
    return pl.DataFrame(columns)


def _sort(holder: list[pl.DataFrame]) -> pl.DataFrame:
    """Sort by user, time, file order: once, and not at all when the file already is.

    Takes the frame out of ``holder`` (its only reference) and moves it column by column
    into sorted order, so the peak is one frame plus one column rather than two frames.
    """
    frame = holder.pop()
    order = _sort_order(frame)
    if order is None:
        return frame
    columns = frame.get_columns()
    del frame

    def move(i: int) -> None:
        # one contiguous chunk first: gathering from the reader's many chunks is ~6x slower
        columns[i] = columns[i].rechunk().gather(order)  # frees the unsorted column

    # a few columns at a time (Polars releases the GIL): faster than one by one, and the
    # peak stays one frame plus a few columns
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(move, range(len(columns))))
    return pl.DataFrame(columns)


def _sort_order(frame: pl.DataFrame) -> pl.Series | None:
    """Row order by (user, time, file order), or None when the rows are in it already.

    The rows are grouped by user without sorting them (``core._grouping.group_rows``: a hash
    partition and a stable counting sort, each user's rows in time then file order), then
    only the distinct users are sorted and their groups laid out in that order: on a 10M-row
    export in time order, a fraction of a sort of every row's packed (user, time) key, which
    smaller tables still use (:data:`_GROUP_ROWS_FROM`).
    """
    from core._grouping import group_rows

    user, ts = pl.col("user_id"), pl.col("ts")
    ordered = ((user > user.shift(1)) | ((user == user.shift(1)) & (ts >= ts.shift(1)))).fill_null(
        True
    )
    # the first rows usually tell an unsorted file at once; check them before the whole
    if frame.head(100_000).select(ordered.all()).item() and frame.select(ordered.all()).item():
        return None
    if frame.height < _GROUP_ROWS_FROM:
        return _packed_sort_order(frame)
    users = frame["user_id"]
    groups = group_rows(users, frame["ts"].dt.epoch("us").to_numpy())
    by_name = users.gather(groups.first_rows).arg_sort().to_numpy()  # distinct: no ties
    return pl.Series(ROW_COLUMN, groups.rows_in_entity_order(by_name))


#: Below this many rows the grouping's compiled code (numba: ~0.5 s to import in a fresh
#: process) costs more than it saves; there the rows are sorted by a packed 64-bit key.
_GROUP_ROWS_FROM: Final = 2_000_000


def _packed_sort_order(frame: pl.DataFrame) -> pl.Series:
    """Row order by (user, time, file order): users ranked once by their text (a sort of the
    distinct ids only), rank and time packed into one integer when they fit in 63 bits, and a
    stable sort of that key (ties keep the file order)."""
    users = frame["user_id"].unique().sort()
    ranks = pl.DataFrame(
        {"user_id": users, "rank": pl.int_range(0, users.len(), eager=True, dtype=pl.UInt64)}
    )
    keys = frame.select("user_id", pl.col("ts").dt.epoch("us").alias("t")).join(
        ranks, on="user_id", how="left", maintain_order="left"
    )
    lo, hi = keys["t"].min(), keys["t"].max()
    t_bits = max(1, int(hi - lo).bit_length())  # type: ignore[operator]
    if t_bits + max(1, users.len().bit_length()) <= 63:
        keys = keys.select(
            (pl.col("rank") * (1 << t_bits) + (pl.col("t") - lo).cast(pl.UInt64)).alias("key")
        )
        return keys.select(pl.arg_sort_by("key", maintain_order=True)).to_series()
    return keys.select(pl.arg_sort_by("rank", "t", maintain_order=True)).to_series()


def _examples(
    rows: pl.Series, mask: pl.Series, *, raw: RawSource | None, column: str | None = None
) -> str:
    """``first at data rows 3 ('x'), 9 ('y') ...``: 1-based data rows below the header, with
    their values read back from the file when ``column`` is given (only on this error path)."""
    idx = mask.arg_true().head(_EXAMPLES)
    nums = rows.gather(idx).to_list()
    if column is not None and raw is not None and nums:
        wanted = pl.Series(nums, dtype=pl.UInt32)
        found, _ = collect_raw(
            raw,
            lambda lf: lf.filter(pl.col(ROW_COLUMN).is_in(wanted.implode())).select(
                ROW_COLUMN, pl.col(column).cast(pl.String)
            ),
            row_index=True,
        )
        values = dict(zip(found[ROW_COLUMN].to_list(), found[column].to_list(), strict=True))
        shown = ", ".join(f"{r} ({values.get(r)!r})" for r in nums)
    else:
        shown = ", ".join(str(r) for r in nums)
    more = " ..." if int(mask.sum()) > len(nums) else ""
    return f"first at data row{'s' if len(nums) > 1 else ''} {shown}{more}"


# --------------------------------------------------------------------------------------------
# timestamps


@dataclass(frozen=True)
class TimestampPlan:
    """How a timestamp column is read, decided on a sample of its values.

    Attributes
    ----------
    kind : str
        ``"datetime"`` (typed, ``tz`` its zone), ``"date"``, ``"epoch"`` (numbers or numeric
        text), ``"text"`` (dates as text, ``formats``) or ``"empty"``.
    unit : str
        ``s``/``ms``/``us``/``ns`` for epochs, else ``text``, ``datetime``, ``date`` or ``""``.
    formats : tuple of (str, str)
        strptime layouts tried in turn, each with its zone kind (``aware``: the text carries
        an offset or ``Z``; ``utc``: a literal ``UTC``/``GMT``; ``naive``; ``date``).
    numeric : str or None
        ``"int"`` or ``"float"`` when the source is text holding numbers.
    warnings : tuple of str
        Assumptions the user should know about.
    """

    kind: str
    unit: str
    formats: tuple[tuple[str, str], ...] = ()
    numeric: str | None = None
    integer: bool = True
    tz: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def format(self) -> str | None:
        return " | ".join(f for f, _ in self.formats) or None

    def present(self, e: pl.Expr) -> pl.Expr:
        """Whether the source holds a value at all (blank text counts as missing)."""
        if self.kind in ("datetime", "date") or (self.kind == "epoch" and self.numeric is None):
            return e.is_not_null()
        return _text(e).is_not_null()

    def unit_code(self, e: pl.Expr, *, clean: bool = False) -> pl.Expr | None:
        """Per value, the epoch unit it is read in (0 s, 1 ms, 2 us, 3 ns); None unless the
        column holds epochs."""
        if self.kind != "epoch":
            return None
        if self.numeric is not None:
            if not clean:
                e = _text(e)
            e = e.cast(pl.Int64 if self.numeric == "int" else pl.Float64, strict=False)
        return _epoch_unit_code(e)

    def expr(self, e: pl.Expr, *, clean: bool = False) -> pl.Expr:
        """``Datetime(us, UTC)`` values, null where the source cannot be read.

        ``clean``: text sources are already stripped with blanks as null.
        """
        if (
            self.kind in ("epoch", "text")
            and not clean
            and self.unit != ""
            and (self.numeric is not None or self.kind == "text")
        ):
            e = _text(e)
        if self.kind == "datetime":
            if self.tz is None:
                return e.dt.replace_time_zone("UTC").cast(UTC_US)
            return e.dt.convert_time_zone("UTC").cast(UTC_US)
        if self.kind == "date":
            return e.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        if self.kind == "epoch":
            if self.numeric is not None:
                e = e.cast(pl.Int64 if self.numeric == "int" else pl.Float64, strict=False)
            return _epoch_expr(e, self.unit, integer=self.integer)
        if self.kind == "text":
            return pl.coalesce([_parse_expr(e, f, k) for f, k in self.formats])
        return pl.lit(None, dtype=UTC_US)


def _parse_expr(t: pl.Expr, fmt: str, kind: str) -> pl.Expr:
    parsed = t.str.to_datetime(fmt, time_unit="us", strict=False, cache=False)
    if kind == "aware":
        return parsed.dt.convert_time_zone("UTC").cast(UTC_US)
    return parsed.dt.replace_time_zone("UTC")


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


def _candidates() -> list[tuple[str, str, str]]:
    """(layout, date order, zone kind) for every text timestamp layout recognised.

    Fixed-width layouts come first: Polars parses them about six times faster than layouts
    with a variable fraction (``%.f``) or a parsed offset (``%#z``), and among layouts that
    read the same sample the first one wins.
    """
    iso_dates = [("%Y-%m-%d", "ymd"), ("%Y/%m/%d", "ymd"), ("%Y.%m.%d", "ymd")]
    other_dates = [
        ("%d/%m/%Y", "dmy"),
        ("%m/%d/%Y", "mdy"),
        ("%d.%m.%Y", "dmy"),
        ("%d-%m-%Y", "dmy"),
        ("%m-%d-%Y", "mdy"),
        ("%d/%m/%y", "dmy"),
        ("%m/%d/%y", "mdy"),
        ("%d.%m.%y", "dmy"),
        ("%d-%b-%Y", "dmy"),
        ("%d %b %Y", "dmy"),
        ("%b %d, %Y", "mdy"),
        ("%a, %d %b %Y", "dmy"),
    ]
    times = [
        "%H:%M:%S",
        "%H:%M",
        "%H:%M:%S%.3f",
        "%H:%M:%S%.6f",
        "%H:%M:%S%.f",
        "%I:%M:%S %p",
        "%I:%M %p",
        "%I:%M:%S%.f %p",
    ]
    utc_literals = [
        ("Z", "utc"),
        (" UTC", "utc"),
        (" GMT", "utc"),
        (" Z", "utc"),
        ("+00:00", "utc"),
        ("+0000", "utc"),
    ]
    iso_zones = [*utc_literals, ("", "naive"), ("%#z", "aware"), (" %#z", "aware")]
    other_zones = [(" UTC", "utc"), (" GMT", "utc"), ("", "naive"), (" %#z", "aware")]
    out = []
    for dates, seps, zones in (
        (iso_dates, ("T", " "), iso_zones),
        (other_dates, (" ",), other_zones),
    ):
        for d, order in dates:
            for sep in seps:
                for t in times:
                    for z, kind in zones:
                        out.append((f"{d}{sep}{t}{z}", order, kind))
            out.append((d, order, "date"))
    return out


_CANDIDATES: Final = _candidates()


def _sample(values: pl.Series) -> pl.Series:
    """Up to :data:`_SAMPLE` distinct values: the first ones and an even spread of the rest."""
    values = values.drop_nulls()
    n = values.len()
    if n > _SAMPLE:
        step = max(1, n // (_SAMPLE // 2))
        values = pl.concat([values.head(_SAMPLE // 2), values.gather_every(step)])
    return values.unique(maintain_order=True).head(_SAMPLE)


def plan_timestamps(values: pl.Series, *, column: str = "ts") -> TimestampPlan:
    """Decide how to read a timestamp column from a sample of its values.

    Epoch numbers (or numeric text) are seconds, milliseconds, microseconds or nanoseconds by
    their magnitude; text is matched against ISO 8601 (with or without zone, ``Z`` or
    `` UTC``), ``YYYY-MM-DD HH:MM:SS``, ``YYYYMMDD`` and day-first / month-first layouts,
    choosing the layout that reads the most values, and between day-first and month-first the
    one whose dates span the shorter period. Times without a zone are taken as UTC.

    Parameters
    ----------
    values : pl.Series
        Some values of the column (the first rows of the file).
    column : str
        Its name, for warnings.

    Returns
    -------
    TimestampPlan
    """
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        w = (
            ()
            if dtype.time_zone
            else (f"Timestamps in {column!r} carry no time zone; read them as UTC.",)
        )
        return TimestampPlan("datetime", "datetime", tz=dtype.time_zone, warnings=w)
    if dtype == pl.Date:
        return TimestampPlan(
            "date",
            "date",
            warnings=(f"{column!r} holds dates without times; events are placed at 00:00 UTC.",),
        )
    if dtype.is_numeric():
        return _epoch_plan(values, None, column)
    text = values.cast(pl.String).str.strip_chars()
    sample = _sample(text.filter(text != ""))
    if sample.len() == 0:
        return TimestampPlan("empty", "")
    is_number = sample.str.contains(_NUMBER_RE)
    if int(is_number.sum()) * 2 >= sample.len():  # mostly numbers: epochs (others unreadable)
        sample = sample.filter(is_number)
        if bool(sample.str.contains(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$").all()):
            return TimestampPlan(
                "text",
                "text",
                formats=(("%Y%m%d", "date"),),
                warnings=(
                    f"{column!r} holds dates (YYYYMMDD) without times; events are placed at "
                    "00:00 UTC.",
                ),
            )
        numeric = "int" if bool(sample.str.contains(r"^[+-]?\d+$").all()) else "float"
        num = sample.cast(pl.Int64 if numeric == "int" else pl.Float64, strict=False)
        return _epoch_plan(num, numeric, column)
    return _text_plan(sample, column)


def _epoch_plan(num: pl.Series, numeric: str | None, column: str) -> TimestampPlan:
    finite = num.drop_nulls()
    if finite.dtype.is_float():
        finite = finite.filter(finite.is_finite())
    if finite.len() == 0:
        return TimestampPlan("empty", "")
    median = float(finite.abs().median())  # type: ignore[arg-type]
    unit = next(u for u, limit in _EPOCH_LIMITS if median < limit)
    integer = numeric == "int" or (numeric is None and num.dtype.is_integer())
    plan = TimestampPlan("epoch", unit, numeric=numeric, integer=integer)
    years = pl.select(_epoch_expr(pl.lit(finite), unit, integer=integer)).to_series().dt.year()
    year = int(years.median() or 0)  # type: ignore[arg-type]
    if not 1995 <= year <= 2100:
        plan = replace(
            plan,
            warnings=(
                f"Timestamps in {column!r} were read as Unix {unit} and fall around the year "
                f"{year}; check that the column holds Unix times.",
            ),
        )
    return plan


def _score(sample: pl.Series, candidates: list[tuple[str, str, str]]) -> list[tuple[int, Any, Any]]:
    """(values read, earliest, latest) per candidate layout, in one pass."""
    frame = pl.DataFrame({"v": sample})
    exprs = []
    for i, (fmt, _, _) in enumerate(candidates):
        p = pl.col("v").str.to_datetime(fmt, time_unit="us", strict=False, cache=False)
        exprs += [p.count().alias(f"n{i}"), p.min().alias(f"a{i}"), p.max().alias(f"b{i}")]
    row = frame.select(exprs).row(0)
    return [(row[3 * i], row[3 * i + 1], row[3 * i + 2]) for i in range(len(candidates))]


def _text_plan(sample: pl.Series, column: str) -> TimestampPlan:
    probe = sample.head(20)
    alive = [c for c, (n, _, _) in zip(_CANDIDATES, _score(probe, _CANDIDATES), strict=True) if n]
    if not alive:
        return TimestampPlan("text", "text", formats=(("%Y-%m-%d %H:%M:%S%.f", "naive"),))
    warnings: list[str] = []
    chosen: list[tuple[str, str, str]] = []
    remaining = sample
    for _ in range(3):  # mixed layouts: cover what the first layout misses, same date order
        pool = [
            c
            for c in alive
            if c not in chosen
            and (not chosen or c[1] in (chosen[0][1], "ymd") or chosen[0][1] == "ymd")
        ]
        if not pool or remaining.len() == 0:
            break
        scores = _score(remaining, pool)
        best_n = max(s[0] for s in scores)
        if best_n == 0:
            break
        top = [(c, s) for c, s in zip(pool, scores, strict=True) if s[0] == best_n]
        pick = top[0]
        orders = {c[1] for c, _ in top}
        if not chosen and {"dmy", "mdy"} <= orders:
            pick = min(top, key=lambda cs: cs[1][2] - cs[1][1])
            rival = next(cs for cs in top if cs[0][1] != pick[0][1])
            first = "day" if pick[0][1] == "dmy" else "month"
            warnings.append(
                f"Dates in {column!r} such as {remaining[0]!r} read either day-first or "
                f"month-first; chose {first}-first because the dates then span "
                f"{_days(pick[1][2] - pick[1][1])} instead of "
                f"{_days(rival[1][2] - rival[1][1])}."
            )
        chosen.append(pick[0])
        parsed = remaining.str.to_datetime(pick[0][0], time_unit="us", strict=False)
        remaining = remaining.filter(parsed.is_null())
    kinds = {k for _, _, k in chosen}
    if "naive" in kinds:
        warnings.append(f"Timestamps in {column!r} carry no time zone; read them as UTC.")
    if "date" in kinds:
        warnings.append(
            f"Some values in {column!r} are dates without times; those events are "
            "placed at 00:00 UTC."
        )
    return TimestampPlan(
        "text", "text", formats=tuple((f, k) for f, _, k in chosen), warnings=tuple(warnings)
    )


def _widen_text_plan(df: pl.DataFrame, raw: RawSource, plan: _Plan) -> TimestampPlan | None:
    """When text timestamps failed beyond the first rows, look for layouts that read them."""
    failed_rows = df.filter(pl.col("__ts_present") & pl.col("ts").is_null())[ROW_COLUMN]
    if failed_rows.len() == 0:
        return None
    src = plan.used["ts"]
    wanted = _sample(failed_rows)
    got, _ = collect_raw(
        raw,
        lambda lf: lf.filter(pl.col(ROW_COLUMN).is_in(wanted.implode())).select(
            pl.col(src).cast(pl.String)
        ),
        row_index=True,
    )
    extra = _text_plan(got[src].str.strip_chars(), src)
    new = [f for f in extra.formats if f not in plan.ts.formats]
    if (
        not new
        or extra.formats == (("%Y-%m-%d %H:%M:%S%.f", "naive"),)
        and not any(
            got[src]
            .str.strip_chars()
            .str.to_datetime(extra.formats[0][0], strict=False)
            .is_not_null()
        )
    ):
        return None
    return replace(
        plan.ts,
        formats=plan.ts.formats + tuple(new),
        warnings=tuple(dict.fromkeys(plan.ts.warnings + extra.warnings)),
    )


def parse_timestamps(values: pl.Series, *, column: str = "ts") -> tuple[pl.Series, TimestampPlan]:
    """Parse a whole timestamp column into ``Datetime(us, UTC)`` (null where unreadable).

    The same reading as :func:`load_events`, for a column already in memory.

    Parameters
    ----------
    values : pl.Series
        Timestamps as numbers, text, dates or date-times.
    column : str
        Its name, for warnings.

    Returns
    -------
    (pl.Series, TimestampPlan)
        The parsed values and how they were read.
    """
    plan = plan_timestamps(values, column=column)
    frame = pl.DataFrame({"v": values})
    out = frame.select(plan.expr(pl.col("v"))).to_series()
    if plan.kind == "text":
        failed = frame.filter(plan.present(pl.col("v")) & out.is_null())["v"]
        if failed.len():
            extra = _text_plan(failed.str.strip_chars(), column)
            new = tuple(f for f in extra.formats if f not in plan.formats)
            if new:
                plan = replace(
                    plan,
                    formats=plan.formats + new,
                    warnings=tuple(dict.fromkeys(plan.warnings + extra.warnings)),
                )
                out = frame.select(plan.expr(pl.col("v"))).to_series()
    return out.alias(values.name), plan


def _days(span: timedelta | None) -> str:
    if span is None:
        return "nothing"
    days = span.total_seconds() / 86400
    return f"{days:,.1f} days" if days < 100 else f"{days / 365.25:,.1f} years"


# --------------------------------------------------------------------------------------------
# properties and sessions

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


def _sessions(frame: pl.DataFrame, plan: _Plan, report: LoadReport, gap: timedelta) -> pl.DataFrame:
    """Session ids, unique across users; inactivity-gap sessions where the export has none.

    ``frame`` is sorted by user and time.
    """
    used, fmt = plan.used, plan.fmt
    minutes = f"{gap.total_seconds() / 60:g}-minute"
    if "session_id" not in used:
        report.notes.append(
            f"The export has no session id: sessions were built from a {minutes} inactivity gap."
        )
        return frame.with_columns(_gap_sessions(frame, gap))
    scope = fmt.session_scope if fmt is not None else "global"
    user, sess = pl.col("user_id"), pl.col("__session")
    if scope == "per_user":
        frame = frame.with_columns((user + ":" + sess).alias("__session"))
        report.notes.append(
            f"Session ids in {used['session_id']!r} are unique per user only; "
            "they were prefixed with the user id."
        )
    else:
        shared = _shared_sessions(frame)
        if shared.len():
            frame = frame.with_columns(
                pl.when(sess.is_in(shared.implode()))
                .then(user + ":" + sess)
                .otherwise(sess)
                .alias("__session")
            )
            report.warnings.append(
                f"{shared.len():,} session id(s) in {used['session_id']!r} belong to several "
                f"users (e.g. {shared[0]!r}); those were made unique by prefixing the user id."
            )
    missing = frame["__session"].null_count()
    if missing:
        frame = frame.with_columns(pl.coalesce(sess, _gap_sessions(frame, gap)).alias("__session"))
        report.notes.append(
            f"{missing:,} events without a session id were given sessions "
            f"from a {minutes} inactivity gap."
        )
    return frame.rename({"__session": "session_id"})


def _shared_sessions(frame: pl.DataFrame) -> pl.Series:
    """Session ids used by more than one user, from the (user, session) runs of sorted rows.

    Only the first row of each run is looked at; an id starting several runs is either shared
    by users or interleaved within one user's visits, which the last step tells apart.
    """
    user, sess = pl.col("user_id"), pl.col("__session")
    starts = ((user != user.shift(1)) | (sess != sess.shift(1))).fill_null(True)
    runs = frame.lazy().filter(starts & sess.is_not_null()).select(user, sess)
    shared = (
        runs.filter(sess.is_duplicated())
        .group_by(sess, maintain_order=True)
        .agg(user.n_unique().alias("users"))
        .filter(pl.col("users") > 1)
        .collect()
    )
    return shared["__session"]


def _gap_sessions(frame: pl.DataFrame, gap: timedelta) -> pl.Series:
    """``<user>-<n>`` as :func:`core.sessions.assign_sessions` numbers them, on sorted rows.

    Linear, no grouping: the rows are already sorted by user and time.
    """
    user, ts = pl.col("user_id"), pl.col("ts")
    new_user = (user != user.shift(1)).fill_null(True)
    new_session = new_user | ((ts - ts.shift(1)) > gap).fill_null(False)
    counter = new_session.cast(pl.UInt32).cum_sum()
    base = pl.when(new_user).then(counter).otherwise(None).forward_fill()
    return frame.select(
        (user + "-" + (counter - base + 1).cast(pl.String)).alias("session_id")
    ).to_series()


__all__ = [
    "DROP_REASONS",
    "LoadReport",
    "LoadResult",
    "TimestampPlan",
    "canonical_event_type",
    "detect_format",
    "load_events",
    "parse_timestamps",
    "plan_timestamps",
    "plausible_range",
    "stray_bounds",
    "read_columns",
    "read_raw",
    "suggest_mapping",
    "suggest_options",
]
