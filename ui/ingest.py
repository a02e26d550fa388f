"""Cached loading of uploads, storing them as datasets, and removing damaged ones.

Button callbacks cannot show messages where the page wants them, so a store error (read-only
store, full disk) is kept for the next run of the page, which shows it (:func:`store_error`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

import streamlit as st

from core.errors import DatasetCorrupt, DatasetNotFound, PathLensError
from core.formats import (
    FORMATS_BY_NAME,
    TIME_UNITS,
    detect_format,
    suggest_mapping,
    suggest_options,
)
from core.io import SpooledUpload, max_expanded_bytes_default, spool_upload
from core.loader import STRAY_MARGIN, LoadReport, LoadResult, load_events, read_columns
from core.schema import CANONICAL_COLUMNS, EVENT_TYPES
from ui.data import forget, get_store, remember
from ui.urls import DATASET_KEY, DATASET_VIEW_KEYS, set_shared

# Bookkeeping only: the last store error of a button callback, shown once by the Data page.
_STORE_ERROR = "_data.store_error"
#: Widget key of the "Drop N stray events" checkbox (read before loading, shown after).
DROP_STRAY_KEY = "data.drop_stray"
_NONE = "(not in this file)"
_UNIT_LABELS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds (µs)"}

#: A mapping as the cached loader takes it: sorted (key, value) pairs of the user's changes.
Mapping = tuple[tuple[str, str | None], ...]


def upload_limits() -> str:
    """The upload limits of this server, in words (``server.maxUploadSize`` and the expansion
    cap of compressed files, ``PATHLENS_MAX_EXPANDED_MB``)."""
    upload_mb = int(st.get_option("server.maxUploadSize"))
    try:
        expanded_mb = max_expanded_bytes_default() // 2**20
    except PathLensError as e:  # a misconfigured server: say so, the upload says it again
        return f"Files up to {upload_mb:,} MB. {e.message}"
    return (f"Files up to {upload_mb:,} MB (server setting `server.maxUploadSize`); a compressed "
            f"file may expand to at most {expanded_mb:,} MB (`PATHLENS_MAX_EXPANDED_MB`).")


@st.cache_resource(max_entries=8, show_spinner="Saving the upload…")
def spooled(file_id: str, _upload) -> SpooledUpload:
    """The upload (Streamlit's ``UploadedFile``, whose ``file_id`` names it) copied to disk in
    chunks, once per upload: later reruns read the file from disk and key their caches by the
    small :class:`SpooledUpload`, never by the content."""
    return spool_upload(_upload, _upload.name)


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def cached_raw_columns(upload: SpooledUpload) -> list[str]:
    """Column names of an uploaded file as read (for the mapping editor; header only)."""
    return list(read_columns(upload.path))


@st.cache_resource(max_entries=4, show_spinner="Loading events…")
def cached_load(upload: SpooledUpload, mapping: Mapping,
                drop_stray: bool = False, _progress=None) -> LoadResult:
    """Load an upload into the canonical table (shared, not copied).

    ``mapping`` holds the user's corrections only (columns and the options ``event_constant``,
    ``ts_time``, ``ts_time_unit``, ``user_fallback``); ``None`` means "this file has no such
    column" (or "no such option"). ``drop_stray`` drops the stray events, counted.
    ``_progress(stage, fraction)`` (not part of the cache key) hears the loader's stages.
    """
    return load_events(upload.path, mapping=dict(mapping) or None, drop_stray=drop_stray,
                       progress=_progress)


#: What the progress bar of an upload says at each stage of ``load_events`` and the store.
STAGE_TEXT = {"reading": "Reading the file…", "checking": "Checking rows: unusable rows, "
              "duplicates, order…", "sessions": "Building sessions and event types…",
              "done": "Preparing the report…", "saving": "Saving the dataset…"}


def load_with_progress(upload: SpooledUpload, mapping: Mapping,
                       drop_stray: bool = False) -> LoadResult:
    """:func:`cached_load` with a progress bar naming its stages (reading, checking, sessions).

    The load runs in a worker thread that only records the stage; this (the script's) thread
    draws it, so the cached function itself calls no ``st.*`` (a cache hit would replay it).
    The bar goes away once the table is loaded (at once when it was loaded before) or the
    load has failed; a failure's message names the file as uploaded."""
    heard = {"stage": "reading", "fraction": 0.0}

    def hear(stage: str, fraction: float) -> None:
        heard.update(stage=stage, fraction=fraction)

    bar = st.progress(0.0, text=STAGE_TEXT["reading"])
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(cached_load, upload, mapping, drop_stray, hear)
            while True:
                try:
                    return job.result(timeout=0.2)
                except FuturesTimeout:
                    bar.progress(heard["fraction"], text=STAGE_TEXT[heard["stage"]])
    except PathLensError as e:
        # the loader names the file it read: the spooled copy, "<sha256>-<name>"; say the
        # name the person uploaded
        e.args = (e.message.replace(os.path.basename(upload.path), upload.name), *e.args[1:])
        raise
    finally:  # also when the load fails: no bar left saying "Reading the file…" over the error
        bar.empty()


def mapping_editor(columns: list[str]) -> Mapping:
    """The mapping screen: one select per PathLens column, then the options for exports that
    lack a column, each prefilled from the detection. Returns the user's changes only.

    The mapping applies to this upload only (the upload is not in the link), so its widgets
    are not bound to the URL; once the dataset is stored, its id is.
    """
    fmt_name = detect_format(columns)
    fmt = FORMATS_BY_NAME.get(fmt_name)
    suggested = suggest_mapping(columns, format=fmt_name)
    options = suggest_options(columns, format=fmt_name)
    changes: dict[str, str | None] = {}
    grid = st.columns(3)
    chosen: dict[str, str | None] = {}
    for i, col in enumerate(c for c in CANONICAL_COLUMNS if c != "event_type"):
        default = suggested.get(col)
        labels = [_NONE, *columns]
        pick = grid[i % 3].selectbox(
            col, labels, index=labels.index(default) if default in labels else 0,
            key=f"data.map.{col}",
        )
        chosen[col] = None if pick == _NONE else pick
        if chosen[col] != default:
            changes[col] = chosen[col]

    st.markdown("**When the export lacks a column**")
    left, mid, right = st.columns(3)
    if chosen["event"] is None:
        # order-line exports without an event column make every row a purchase
        detected = options.get("event_constant") or ("purchase" if fmt and fmt.order_lines
                                                       else None)
        kinds = [*EVENT_TYPES, *([detected] if detected and detected not in EVENT_TYPES else [])]
        every = left.selectbox(
            "Every row is a …", kinds, index=kinds.index(detected) if detected else None,
            placeholder="choose an event type", key="data.opt.event_constant",
            help="The file has no event column: every row becomes this event.",
        )
        if every is not None and every != detected:
            changes["event_constant"] = every
    detected_time = options.get("ts_time")
    labels = [_NONE, *columns]
    time_col = mid.selectbox(
        "Time of day / offset column", labels,
        index=labels.index(detected_time) if detected_time in labels else 0,
        key="data.opt.ts_time",
        help="Added to the day in the ts column: a time of day (09:58:11) or a number, an "
             "offset in the unit on the right.",
    )
    time_col = None if time_col == _NONE else time_col
    if time_col != detected_time:
        changes["ts_time"] = time_col
    detected_unit = options.get("ts_time_unit", "s")
    unit = mid.selectbox(
        "Offset unit", list(TIME_UNITS), index=TIME_UNITS.index(detected_unit),
        format_func=_UNIT_LABELS.get, key="data.opt.ts_time_unit", disabled=time_col is None,
        help="Only for a numeric offset column; a time of day ignores it.",
    )
    if time_col is not None and unit != detected_unit:
        changes["ts_time_unit"] = unit
    detected_fb = options.get("user_fallback")
    session_col = detected_fb or chosen["session_id"]
    use_session = right.checkbox(
        "When the user is missing, use the session"
        + (f" (`{session_col}`)" if session_col else ""),
        value=detected_fb is not None, key="data.opt.user_fallback",
        disabled=session_col is None,
        help="Rows without a user take '<column>:<value>' of this column as their user "
             "(a visit without a customer stands for its own user).",
    )
    if use_session and detected_fb is None and session_col is not None:
        changes["user_fallback"] = session_col
    elif not use_session and detected_fb is not None:
        changes["user_fallback"] = None
    return tuple(sorted(changes.items(), key=lambda kv: kv[0]))


def stray_control(report: LoadReport) -> bool:
    """Warn about stray timestamps and offer to drop them; returns whether they are dropped.

    The checkbox is read before loading (:data:`DROP_STRAY_KEY`), so it is shown whenever the
    report counts stray events, dropped or not.
    """
    if report.stray_rows <= 0:
        return False
    n = report.stray_rows
    span = (f"{report.bulk_start:%Y-%m-%d} to {report.bulk_end:%Y-%m-%d}"
            if report.bulk_start and report.bulk_end else "the bulk of the data")
    verb = "were dropped" if report.stray_dropped else "stretch every time axis"
    st.warning(
        f"{n:,} stray event(s) lie more than {STRAY_MARGIN.days} days outside the bulk of the "
        f"data ({span}); they {verb}.", icon=":material/warning:")
    return st.checkbox(
        f"Drop {n:,} stray events", key=DROP_STRAY_KEY,
        help="Dropped rows are counted in the quality report under 'stray timestamp'.",
    )


def drop_stray_requested() -> bool:
    """Whether the "Drop N stray events" checkbox was ticked (read before loading)."""
    return bool(st.session_state.get(DROP_STRAY_KEY, False))


def store_dataset(upload: SpooledUpload, mapping: Mapping, drop_stray: bool = False) -> None:
    """Button callback: put the loaded upload into the store and make it the active dataset."""
    name = upload.name
    result = cached_load(upload, mapping, drop_stray)
    report = result.report.to_dict() if hasattr(result.report, "to_dict") else {}
    bar = st.progress(0.95, text=STAGE_TEXT["saving"])
    try:
        dataset_id = get_store().put(result.events, name=name, report=report)
    except PathLensError as e:
        st.session_state[_STORE_ERROR] = e.message
        return
    finally:
        bar.empty()
    remember(dataset_id)
    set_shared(DATASET_KEY, dataset_id)
    for param in DATASET_VIEW_KEYS:
        set_shared(param, None)


def remove_dataset(dataset_id: str) -> None:
    """Button callback: delete a damaged dataset and go back to the sample.

    Only a dataset that fails the store's checks is removed: a page offers this for the broken
    dataset of its link, and a working dataset may be in use by whoever else holds the link.
    """
    store = get_store()
    try:
        store.verify(dataset_id)
        return  # repaired meanwhile (the same file was uploaded again): keep it
    except DatasetCorrupt:
        try:
            store.delete(dataset_id)
        except PathLensError as e:
            st.session_state[_STORE_ERROR] = e.message
            return
    except DatasetNotFound:
        pass
    forget(dataset_id)
    set_shared(DATASET_KEY, None)


def store_error() -> str | None:
    """The store error of the last button callback, if any (returned once)."""
    return st.session_state.pop(_STORE_ERROR, None)
