"""Cached loading of uploads and storing them as datasets."""

from __future__ import annotations

import io

import streamlit as st

from core.loader import LoadResult, load_events, read_columns
from ui.data import dataset_names, get_store


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
    dataset_id = get_store().put(result.events, name=name, report=report)
    dataset_names.clear()
    from ui.shell import set_shared

    set_shared("dataset", dataset_id)
    for param in ("from", "to", "filter", "where", "seg"):
        set_shared(param, None)
