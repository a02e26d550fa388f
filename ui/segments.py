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
    fit_segments,
    user_features_partition,
)
from ui.data import filtered_events


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
