"""Cached wrappers of the Overview page."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone

import polars as pl
import streamlit as st

from core.filters import FilterParams
from core.overview import (
    OverviewMetrics,
    PeriodComparison,
    activity_trend,
    compare_with_previous,
    detect_currency,
    event_mix,
    overview_metrics,
)
from ui.data import filtered_events
from ui.view import DataView

#: Currencies offered besides "auto" (detected from the export) and "none".
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CNY", "RUB", "INR", "BRL", "CHF", "SEK", "PLN")


@dataclass(frozen=True)
class OverviewView:
    """Everything the Overview page draws."""

    metrics: OverviewMetrics
    comparison: PeriodComparison | None
    trend: pl.DataFrame
    mix: pl.DataFrame
    currency: str | None
    currencies_found: tuple[str, ...]


def _range(filters: FilterParams, first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """The current period: the sidebar's date range, its open ends taken from the data."""
    start = (datetime.combine(filters.date_from, time.min, tzinfo=timezone.utc)
             if filters.date_from else first)
    end = (datetime.combine(filters.date_to, time.min, tzinfo=timezone.utc) + timedelta(days=1)
           if filters.date_to else last + timedelta(microseconds=1))
    return start, end


@st.cache_data(max_entries=16, show_spinner="Computing overview…")
def cached_overview(view: DataView, grain: str = "auto") -> OverviewView:
    """Headline numbers against the previous period, the activity trend and the event mix."""
    events = filtered_events(view)
    filters = view.filters
    metrics = overview_metrics(events)
    currency, found = detect_currency(events)
    if metrics.events == 0:
        return OverviewView(metrics, None, pl.DataFrame(), pl.DataFrame(), currency, found)
    start, end = _range(filters, metrics.first, metrics.last)  # type: ignore[arg-type]
    undated = filtered_events(view.with_filters(replace(filters, date_from=None, date_to=None)))
    comparison = compare_with_previous(undated, start=start, end=end)
    # a date range cut the data: its ends, not the first and last event, bound the periods
    trend = activity_trend(events, grain=grain, start=start if filters.date_from else None,
                           end=end if filters.date_to else None)
    return OverviewView(metrics, comparison, trend, event_mix(events), currency, found)
