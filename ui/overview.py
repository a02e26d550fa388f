"""Cached wrappers of the Overview page."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.filters import FilterParams
from core.overview import OverviewMetrics, daily_trend, event_mix, overview_metrics
from ui.data import filtered_events


@st.cache_data(max_entries=16, show_spinner="Computing overview…")
def cached_overview(
    dataset_id: str, filters: FilterParams, seg: str = ""
) -> tuple[OverviewMetrics, pl.DataFrame, pl.DataFrame]:
    events = filtered_events(dataset_id, filters, seg)
    return overview_metrics(events), daily_trend(events), event_mix(events)
