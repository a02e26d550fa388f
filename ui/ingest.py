"""Cached loading of uploads, storing them as datasets, and removing damaged ones.

Button callbacks cannot show messages where the page wants them, so a store error (read-only
store, full disk) is kept for the next run of the page, which shows it (:func:`store_error`).
"""

from __future__ import annotations

import io

import streamlit as st

from core.errors import DatasetCorrupt, DatasetNotFound, PathLensError
from core.loader import LoadResult, load_events, read_columns
from ui.data import forget, get_store, remember

# Bookkeeping only: the last store error of a button callback, shown once by the Data page.
_STORE_ERROR = "_data.store_error"


def _buffer(content: bytes, name: str) -> io.BytesIO:
    buf = io.BytesIO(content)
    buf.name = name
    return buf


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def cached_raw_columns(content: bytes, name: str) -> list[str]:
    """Column names of an uploaded file as read (for the mapping editor; header only)."""
    return list(read_columns(_buffer(content, name)))


@st.cache_resource(max_entries=4, show_spinner="Loading events…")
def cached_load(content: bytes, name: str,
                mapping: tuple[tuple[str, str | None], ...]) -> LoadResult:
    """Load an upload into the canonical table (shared, not copied).

    ``mapping`` holds the user's corrections only; ``None`` means "this file has no such column".
    """
    return load_events(_buffer(content, name), mapping=dict(mapping) or None)


def store_dataset(content: bytes, name: str,
                  mapping: tuple[tuple[str, str | None], ...]) -> None:
    """Button callback: put the loaded upload into the store and make it the active dataset."""
    result = cached_load(content, name, mapping)
    report = result.report.to_dict() if hasattr(result.report, "to_dict") else {}
    try:
        dataset_id = get_store().put(result.events, name=name, report=report)
    except PathLensError as e:
        st.session_state[_STORE_ERROR] = e.message
        return
    remember(dataset_id)
    from ui.shell import set_shared

    set_shared("dataset", dataset_id)
    for param in ("from", "to", "filter", "where", "seg"):
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
    from ui.shell import set_shared

    set_shared("dataset", None)


def store_error() -> str | None:
    """The store error of the last button callback, if any (returned once)."""
    return st.session_state.pop(_STORE_ERROR, None)
