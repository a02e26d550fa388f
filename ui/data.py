"""Cached access to datasets. Frames are shared (cache_resource), never copied per rerun:
Polars frames are immutable, so sharing them between sessions is safe.

``seg`` is the shared segmentation setting (the ``seg`` URL parameter, written by the Segments
page): when set, every page's events carry a ``segment`` property computed on the whole
dataset with those settings, so the same link always gives the same segments.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import polars as pl
import streamlit as st

from core.filters import FilterParams, apply_filters
from core.overview import DatasetInfo, dataset_info
from core.store import DatasetStore


@st.cache_resource
def get_store() -> DatasetStore:
    """The process-wide dataset store (``PATHLENS_DATA_DIR`` or ``~/.pathlens/datasets``)."""
    return DatasetStore()


def parse_seg(seg: str):
    """SegmentParams of a ``seg`` URL value (``segments.k=4&segments.seed=1``); notes on errors."""
    from core.segments import SegmentParams

    notes: list[str] = []
    params = SegmentParams.from_query(parse_qs(seg), notes=notes)
    return params, notes


@st.cache_resource(max_entries=4, show_spinner="Computing segments…")
def segment_labels_cached(dataset_id: str, seg: str) -> pl.DataFrame:
    """``user_id, segment`` for the whole dataset under the ``seg`` settings."""
    from core.segments import segment_labels

    params, _ = parse_seg(seg)
    events = get_store().scan(dataset_id)
    available = _available_features(dataset_id)
    params, _dropped = params.restricted_to(available)
    return segment_labels(events, params)


@st.cache_data(max_entries=8, show_spinner=False)
def _available_features(dataset_id: str) -> tuple[str, ...]:
    from core.segments import feature_availability

    report = feature_availability(get_store().scan(dataset_id))
    return tuple(report.available)


def base_events(dataset_id: str, seg: str = "") -> pl.LazyFrame:
    """The dataset as a lazy scan, with the ``segment`` property when ``seg`` is set."""
    lf = get_store().scan(dataset_id)
    if seg:
        labels = segment_labels_cached(dataset_id, seg)
        lf = lf.join(labels.lazy(), on="user_id", how="left", maintain_order="left")
    return lf


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def filtered_events(dataset_id: str, filters: FilterParams, seg: str = "") -> pl.DataFrame:
    """The canonical table of a dataset with the sidebar filters applied."""
    return apply_filters(base_events(dataset_id, seg), filters).collect()


@st.cache_data(max_entries=16, show_spinner=False)
def cached_dataset_info(dataset_id: str, seg: str = "") -> DatasetInfo:
    """Control-building summary of the whole (unfiltered) dataset."""
    return dataset_info(base_events(dataset_id, seg))


@st.cache_data(max_entries=32, show_spinner=False)
def dataset_names() -> dict[str, str]:
    """id -> display name of every stored dataset (refreshed by ``dataset_names.clear()``)."""
    store = get_store()
    names = {"sample": "Bundled sample shop"}
    for m in store.list():
        if m.id != "sample":
            names[m.id] = f"{m.name} ({m.rows:,} events)"
    return names
