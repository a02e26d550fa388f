"""Cached access to datasets. Frames are shared (cache_resource), never copied per rerun:
Polars frames are immutable, so sharing them between sessions is safe."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.filters import FilterParams, apply_filters
from core.overview import DatasetInfo, dataset_info
from core.store import DatasetStore


@st.cache_resource
def get_store() -> DatasetStore:
    """The process-wide dataset store (``PATHLENS_DATA_DIR`` or ``~/.pathlens/datasets``)."""
    return DatasetStore()


@st.cache_resource(max_entries=6, show_spinner="Loading dataset…")
def filtered_events(dataset_id: str, filters: FilterParams) -> pl.DataFrame:
    """The canonical table of a dataset with the sidebar filters applied."""
    lf = get_store().scan(dataset_id)
    return apply_filters(lf, filters).collect()


@st.cache_data(max_entries=16, show_spinner=False)
def cached_dataset_info(dataset_id: str) -> DatasetInfo:
    """Control-building summary of the whole (unfiltered) dataset."""
    return dataset_info(get_store().scan(dataset_id))


@st.cache_data(max_entries=32, show_spinner=False)
def dataset_names() -> dict[str, str]:
    """id -> display name of every stored dataset (refreshed by ``dataset_names.clear()``)."""
    store = get_store()
    names = {"sample": "Bundled sample shop"}
    for m in store.list():
        if m.id != "sample":
            names[m.id] = f"{m.name} ({m.rows:,} events)"
    return names
