"""The loading pipeline: open, lay out the columns, plan, one pass over the file, then the
checks that need the whole table.

:func:`run` reads the file once, lazily, with every column parsed on the way
(:meth:`~core.loader.plan.ReadPlan.build`; a first look at its first rows decides how, and
names the event types of the names it shows); then the unusable rows are dropped and counted
(:mod:`core.loader.accounting`), exact duplicates found (:mod:`core.loader.order`), stray
events flagged, sessions built where missing (:mod:`core.loader.sessions`), the other event
names typed and text properties typed; the duplicates are sliced out last (issue 14: a table of
thousands of slices slows every step after it, and duplicates change no session or type). On
a large table the compiled look for shared session ids runs in a thread meanwhile. The rows
stay in file order: nothing here needs them sorted, and the store sorts a dataset once when it
is saved.

Memory: the parsed table is handed from step to step in a one-element list, its only
reference, so each step frees the columns it replaces (the peak stays about one table).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Final

import numpy as np
import polars as pl

from core.errors import ParameterError
from core.formats import FORMAT_LABELS, UNKNOWN, canonical_event_type, detect_format
from core.io import ROW_COLUMN, RawSource, Source, collect_raw, open_source, scan_raw
from core.loader.accounting import _EXAMPLES, _stray, account_rows
from core.loader.mapping import Layout, resolve_layout
from core.loader.order import COMPILED_FROM, _duplicates, _filter_columns, _repeated_rows
from core.loader.plan import (
    ReadPlan,
    _event_type_expr,
    option_notes,
    plan_reading,
    widen_text_plan,
)
from core.loader.properties import _ID_LIKE, _tighten_columns
from core.loader.report import DROP_REASONS, DUPLICATE, STRAY_TS, LoadReport, LoadResult
from core.loader.sessions import _global_sessions, _sessions
from core.schema import CANONICAL_SCHEMA, empty_events

if TYPE_CHECKING:
    from core.loader.params import LoadParams

Progress = Callable[[str, float], None]


def run(source: Source, params: LoadParams, progress: Progress | None = None) -> LoadResult:
    """Load ``source`` with ``params`` (see :func:`core.loader.load_events`).

    Raises
    ------
    ParameterError
        ``progress`` is not callable.
    """
    if progress is not None and not callable(progress):
        raise ParameterError(
            f"`progress` must be a function progress(stage, fraction) or None, got {progress!r}"
        )
    step = progress or _silent
    step("reading", 0.0)
    raw = open_source(source, max_expanded_bytes=params.max_expanded_bytes)
    warming = _warm_compiled(raw)  # from here on: the planning below leaves a core idle
    columns = scan_raw(raw).collect_schema().names()
    fmt_name = detect_format(columns)
    mapping = params.overrides
    layout = resolve_layout(columns, fmt_name, mapping, source_name=raw.name)
    report = _start_report(raw.name, fmt_name, layout, mapping)
    plan, raw = plan_reading(raw, layout)
    report.notes.extend(option_notes(plan))
    df, raw, plan = _read(raw, plan)
    if warming is not None:
        warming.join()
    _describe_read(report, raw, plan, rows=df.height)
    if df.height == 0:
        report.warnings.append(f"{raw.name!r} has column names but no data rows.")
        props = {plan.renamed[c]: df.schema[plan.renamed[c]] for c in plan.extras}
        step("done", 0.95)
        return LoadResult(empty_events(props), report, params)
    parsed = [df]  # _finish takes the only reference, so it can free the frame as it goes
    del df
    step("checking", 0.5)
    events = _finish(parsed, raw, plan, report, params, step)
    step("done", 0.95)
    report.rows_kept = events.height
    if report.rows_read != report.rows_kept + report.rows_dropped_total:  # pragma: no cover
        raise AssertionError("loader accounting is off: rows read != kept + dropped")
    return LoadResult(events, report, params)


def _warm_compiled(raw: RawSource) -> threading.Thread | None:
    """For a file big enough to hold :data:`COMPILED_FROM` rows or so, a thread that loads the
    compiled kernels while the file is read (Polars reads without holding the GIL)."""
    if raw.path is not None:
        size = raw.path.stat().st_size
    else:
        size = len(raw.data) if raw.data is not None else 0
    if size < _WARM_FROM_BYTES:
        return None
    thread = threading.Thread(target=_warm_up, name="pathlens-warm-kernels", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    from core.loader.kernels import warm_up  # numba's import, in the thread as well

    warm_up()


#: Files this large (~50 bytes a row at least) are likely to reach :data:`COMPILED_FROM` rows.
_WARM_FROM_BYTES: Final = 50 * COMPILED_FROM


def _silent(stage: str, fraction: float) -> None:
    """The progress callback when none is given."""


def _start_report(
    source_name: str, fmt_name: str, layout: Layout, mapping: dict | None
) -> LoadReport:
    """The report as the column names alone tell it: format, mapping, options, renames."""
    report = LoadReport(
        source=source_name,
        format=fmt_name,
        format_label=FORMAT_LABELS[fmt_name],
        mapping=dict(layout.used),
        options=dict(layout.options),
    )
    if mapping:
        if fmt_name == UNKNOWN:
            report.format, report.format_label = "generic", "Event log (columns mapped by hand)"
        report.notes.append("Column mapping set by hand for: " + ", ".join(mapping) + ".")
    extras, renamed = layout.extras, layout.renamed
    if any(renamed[c] != c for c in extras):
        clash = [f"{c!r} as {renamed[c]!r}" for c in extras if renamed[c] != c]
        report.notes.append(
            "Kept source columns named like canonical columns under new "
            "names: " + ", ".join(clash) + "."
        )
    return report


def _read(raw: RawSource, plan: ReadPlan) -> tuple[pl.DataFrame, RawSource, ReadPlan]:
    """The pass over the file; once more with more layouts when text timestamps beyond the
    first rows failed in a layout that more layouts read."""
    df, raw = collect_raw(raw, plan.build, row_index=True)
    if df.height and plan.ts.kind == "text":
        wider = widen_text_plan(df, raw, plan)
        if wider is not None:  # more layouts found among the failures: read once more
            del df
            plan = replace(plan, ts=wider)
            df, raw = collect_raw(raw, plan.build, row_index=True)
    return df, raw, plan


def _describe_read(report: LoadReport, raw: RawSource, plan: ReadPlan, *, rows: int) -> None:
    """What the pass read: file kind, timestamp reading, warnings, rows."""
    report.file_kind = raw.description
    report.warnings.extend(raw.warnings)
    report.warnings.extend(plan.ts.warnings)
    report.ts_unit, report.ts_format = plan.ts.unit, plan.ts.format
    report.rows_read = rows


def _finish(
    parsed: list[pl.DataFrame],
    raw: RawSource,
    plan: ReadPlan,
    report: LoadReport,
    params: LoadParams,
    step: Progress,
) -> pl.DataFrame:
    """After the pass: accounting, duplicates, strays, sessions, event types (file order).

    ``parsed`` holds the only reference to the parsed table; it is emptied.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        # on a large table, sessions that may be shared are looked for (on all rows read)
        # while rows are accounted for and duplicates found: two cores; the rows dropped
        # meanwhile only narrow the exact check (core.loader.sessions._shared_sessions)
        checking = _start_session_check(pool, parsed[0], plan)
        keep, counts = account_rows(parsed[0], raw, plan, report)
        holder = parsed
        holder.append(_usable(holder, keep))
        del keep
        # duplicates are sliced out last: a frame of thousands of slices makes every later
        # step slow, and they change no session, event type or property type
        unique, counts[DUPLICATE] = _deduplicate(holder[0], plan, report)
        mixed = None if checking is None else checking.result()
    frame, unique = _stray(holder, report, drop=params.drop_stray, unique=unique)
    counts[STRAY_TS] = report.stray_rows if params.drop_stray else 0
    report.rows_dropped = {r: counts.get(r, 0) for r in DROP_REASONS}
    _order_line_note(frame, plan, report, unique)
    step("sessions", 0.85)
    frame = _sessions(frame, plan, report, params.session_gap, mixed=mixed, unique=unique)
    frame = _event_types(frame, plan, report)
    holder.append(_typed_properties(frame, plan))
    del frame
    return holder.pop() if unique is None else _filter_columns(holder, unique)


def _start_session_check(
    pool: ThreadPoolExecutor, frame: pl.DataFrame, plan: ReadPlan
) -> Future[np.ndarray] | None:
    """The compiled look for session ids with several users
    (:func:`core.loader.kernels.mixed_sessions`), started in ``pool``, when the table is
    large and its session ids are meant to be global."""
    if frame.height < COMPILED_FROM or not _global_sessions(plan):
        return None
    return pool.submit(_mixed_sessions, frame["__session"], frame["user_id"])


def _mixed_sessions(sessions: pl.Series, users: pl.Series) -> np.ndarray:
    from core.loader.kernels import mixed_sessions  # lazy: numba, large tables only

    valid = sessions.is_not_null().to_numpy() if sessions.null_count() else np.empty(0, bool)
    return mixed_sessions(sessions.hash().to_numpy(), users.hash().to_numpy(), valid)


#: Bookkeeping columns of the pass kept after the drop accounting.
_CARRIED: Final = (ROW_COLUMN, "__session")


def _usable(holder: list[pl.DataFrame], keep: pl.Series) -> pl.DataFrame:
    """The rows to ``keep``, without the pass's bookkeeping columns, in file order."""
    df = holder.pop()
    frame = df.drop([c for c in df.columns if c.startswith("__") and c not in _CARRIED])
    del df
    holder.append(frame)
    del frame
    if not bool(keep.all()):
        return _filter_columns(holder, keep)
    return holder.pop()


def _deduplicate(
    frame: pl.DataFrame, plan: ReadPlan, report: LoadReport
) -> tuple[pl.Series | None, int]:
    """Which rows are no exact duplicate (None: all; the first row of the file wins), and how
    many are; a till export without quantities keeps its repeated lines as further units."""
    if plan.fmt is not None and plan.fmt.keep_repeats:
        n_repeats = _repeated_rows(frame)
        if n_repeats:
            report.notes.append(
                f"{n_repeats:,} lines repeat an earlier line exactly; they were kept as further "
                "units of the same item (a till export without quantities writes one line per "
                "unit)."
            )
        return None, 0
    unique, dup_rows = _duplicates(frame)
    if dup_rows.len():
        first = dup_rows.sort().head(_EXAMPLES).to_list()
        more = " ..." if dup_rows.len() > len(first) else ""
        report.warnings.append(
            f"Dropped {dup_rows.len():,} rows that repeat an earlier row exactly, first at "
            f"data row{'s' if len(first) > 1 else ''} {', '.join(map(str, first))}{more}."
        )
    return unique, dup_rows.len()


def _order_line_note(
    frame: pl.DataFrame, plan: ReadPlan, report: LoadReport, unique: pl.Series | None
) -> None:
    """For order-line exports (no event column): every row a purchase, returns refunds
    (``unique``: the rows that are no duplicate)."""
    if "event" in plan.used or "event_constant" in plan.options:
        return
    refund = frame["event"] == "refund"
    n_ref = int((refund if unique is None else refund & unique).sum())
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


def _event_types(frame: pl.DataFrame, plan: ReadPlan, report: LoadReport) -> pl.DataFrame:
    """The ``event_type`` column, typed during the pass for the names of the first rows
    (:meth:`~core.loader.plan.ReadPlan.event_names`) and here for the others; event names
    that are no e-commerce step are noted."""
    others = "other" in plan.event_names().values()
    if frame["event_type"].null_count():  # names the first rows did not show
        unseen = frame.filter(pl.col("event_type").is_null())["event"].unique().drop_nulls()
        lookup = {name: canonical_event_type(name) for name in unseen.to_list()}
        others = True
        frame = frame.with_columns(
            pl.coalesce(
                "event_type", _event_type_expr(pl.col("event"), lookup), pl.lit("other")
            ).alias("event_type")
        )
    if not others:  # every name is a step: nothing to scan for
        return frame
    other_rows = frame.select(
        pl.col("event").filter(pl.col("event_type") == "other").unique().alias("names")
    )
    other = sorted(other_rows["names"].drop_nulls().to_list())
    if other:
        shown = ", ".join(repr(o) for o in other[:10]) + (" ..." if len(other) > 10 else "")
        report.notes.append(
            f"{len(other)} event name(s) are no e-commerce step and have "
            f"event_type 'other': {shown}."
        )
    return frame


def _typed_properties(frame: pl.DataFrame, plan: ReadPlan) -> pl.DataFrame:
    """The canonical table: row numbers dropped, text properties typed where every value is a
    number or a boolean (ids stay text)."""
    frame = frame.drop(ROW_COLUMN)
    text_props = [
        plan.renamed[c]
        for c in plan.extras
        if frame[plan.renamed[c]].dtype == pl.String and not _ID_LIKE.search(c)
    ]
    frame = frame.with_columns(_tighten_columns(frame, text_props))
    # conform()'s columns and dtypes; its check of event_type is not needed, as every value
    # is a canonical_event_type() (tests compare with conform)
    names = frame.columns
    return frame.select(
        *(
            pl.col(c).cast(dtype, strict=False)
            if c in names
            else pl.lit(None, dtype=dtype).alias(c)
            for c, dtype in CANONICAL_SCHEMA.items()
        ),
        *(c for c in names if c not in CANONICAL_SCHEMA),
    )
