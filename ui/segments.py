"""Cached wrappers of the Segments page.

Results are shared between sessions with ``cache_resource`` (Polars frames and the frozen
:class:`core.segments.Segmentation` are immutable), so a 1M-user feature table is never copied
per rerun; the keys are hashable primitives and frozen params.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.segments import (
    FeatureReport,
    Segmentation,
    SegmentParams,
    feature_availability,
    feature_label,
    fit,
    user_features_partition,
)
from ui.data import filtered_events
from ui.engine import runs_on_spark, spark_events
from ui.urls import FEATURES_KEY, publish_features, read_features
from ui.view import DataView

# Bookkeeping only: the features last written to the URL (to notice a link that changed them).
_PUBLISHED = "segments._features_in_url"


@st.cache_resource(max_entries=8, show_spinner="Computing user features…")
def cached_features(view: DataView) -> tuple[pl.DataFrame, FeatureReport]:
    """Per-user features of the view's events and the report of the features left out; on
    Spark for a lake dataset (:func:`ui.engine.runs_on_spark`; K-means stays here, on the
    one-row-per-user table)."""
    if runs_on_spark(view):
        from core.spark import feature_report_spark, user_features_spark  # lazy: pyspark

        source = spark_events(view)
        return user_features_spark(source), feature_report_spark(source)
    events = filtered_events(view)
    report = feature_availability(events)
    return user_features_partition(events, report=report), report


@st.cache_resource(max_entries=16, show_spinner="Finding segments…")
def cached_segmentation(view: DataView, params: SegmentParams) -> Segmentation:
    """K-means segments of the view's users under ``params``."""
    features, _ = cached_features(view)
    return fit(features, params)


def features_control(where, available: list[str], defaults: list[str], *,
                     help: str | None = None) -> list[str]:
    """The Features multiselect: options shown in words (:func:`core.segments.feature_label`),
    the URL keeps the column names (``segments.features=recency_days``; absent for the
    defaults).

    A bound widget would write its labels to the URL, so the URL is read and written here:
    it seeds the widget when the page opens or the link changes; unknown names are left out,
    and the page's link check reports them.
    """
    url = read_features()
    if FEATURES_KEY not in st.session_state or url != st.session_state.get(_PUBLISHED):
        st.session_state[FEATURES_KEY] = (
            list(defaults) if url is None else [c for c in url if c in available])
    chosen = where.multiselect("Features", available, key=FEATURES_KEY,
                               format_func=feature_label, help=help)
    published = None if chosen == list(defaults) else list(chosen)
    publish_features(published, url)
    st.session_state[_PUBLISHED] = published
    return chosen
