"""Cached wrappers of the Segments page.

Results are shared between sessions with ``cache_resource`` (Polars frames and the frozen
:class:`core.segments.Segmentation` are immutable), so a 1M-user feature table is never copied
per rerun; the keys are hashable primitives and frozen params.
"""

from __future__ import annotations

from urllib.parse import urlencode

import polars as pl
import streamlit as st

from core.filters import FilterParams
from core.segments import (
    FeatureReport,
    Segmentation,
    SegmentParams,
    feature_availability,
    feature_label,
    fit_segments,
    user_features_partition,
)
from ui.data import filtered_events

#: Widget key and URL parameter of the chosen features (their column names, not labels).
FEATURES_KEY = "segments.features"
_PUBLISHED = "segments._features_in_url"


@st.cache_resource(max_entries=8, show_spinner="Computing user features…")
def cached_features(
    dataset_id: str, filters: FilterParams, seg: str = ""
) -> tuple[pl.DataFrame, FeatureReport]:
    """Per-user features of the filtered events and the report of the features left out."""
    events = filtered_events(dataset_id, filters, seg)
    report = feature_availability(events)
    return user_features_partition(events, report=report), report


@st.cache_resource(max_entries=16, show_spinner="Finding segments…")
def cached_segmentation(
    dataset_id: str, filters: FilterParams, seg: str, params: SegmentParams
) -> Segmentation:
    """K-means segments of the filtered users under ``params``."""
    features, _ = cached_features(dataset_id, filters, seg)
    return fit_segments(features, k=params.k, seed=params.seed, columns=params.columns)


def seg_value(params: SegmentParams) -> str:
    """The shared ``seg`` URL value of ``params`` (what :func:`ui.data.parse_seg` reads)."""
    return urlencode(params.to_query(), doseq=True) or "segments.k=auto"


def _features_in_url() -> list[str] | None:
    """The features named by the URL (``[]`` for an empty value), ``None`` when absent."""
    try:
        values = st.query_params.get_all(FEATURES_KEY)
    except Exception:  # noqa: BLE001 - no query params outside a browser session
        return None
    if not values:
        return None
    return [v for v in values if v]


def features_control(where, available: list[str], defaults: list[str], *,
                     help: str | None = None) -> list[str]:
    """The Features multiselect: options shown in words (:func:`core.segments.feature_label`),
    the URL keeps the column names (``segments.features=recency_days``; absent for the
    defaults).

    A bound widget would write its labels to the URL, so the URL is read and written here:
    it seeds the widget when the page opens or the link changes; unknown names are left out,
    and the page's link check reports them.
    """
    url = _features_in_url()
    if FEATURES_KEY not in st.session_state or url != st.session_state.get(_PUBLISHED):
        st.session_state[FEATURES_KEY] = (
            list(defaults) if url is None else [c for c in url if c in available])
    chosen = where.multiselect("Features", available, key=FEATURES_KEY,
                               format_func=feature_label, help=help)
    published = None if chosen == list(defaults) else list(chosen)
    try:
        if published is None:
            if FEATURES_KEY in st.query_params:
                del st.query_params[FEATURES_KEY]
        elif published != url:
            st.query_params[FEATURES_KEY] = published or ""
    except Exception:  # noqa: BLE001 - no query params outside a browser session
        pass
    st.session_state[_PUBLISHED] = published
    return chosen
