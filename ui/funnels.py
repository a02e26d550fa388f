"""Cached wrappers and controls of the Funnels page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from core.fmt import grain_for_span
from core.funnels import (
    FunnelParams,
    FunnelResult,
    breakdown_table,
    conversion_by_attempt,
    conversion_over_time,
    dropped_off,
    time_to_convert,
)
from core.overview import DatasetInfo
from core.schema import DEFAULT_FUNNEL
from ui.data import base_events, filtered_events
from ui.urls import paths_link_query
from ui.view import DataView

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1),
         "days": timedelta(days=1)}


@dataclass(frozen=True)
class FunnelView:
    """Everything the page draws for one funnel.

    ``definition`` and ``interval`` are those the trend was computed with (``"auto"`` resolved
    from the span of the entries; an unordered funnel trends by cohort), ``trend_note`` says
    why they differ from what was asked, when they do."""

    result: FunnelResult
    over_time: pl.DataFrame
    time_to_convert: pl.DataFrame
    breakdown: pl.DataFrame
    definition: str = "attempts"
    interval: str = "day"
    trend_note: str = ""


def trend_interval(result: FunnelResult) -> str:
    """The trend grain from the span of the entries to the end of the data."""
    first = result.entities["step_1_at"].min() if result.n_steps else None
    if first is None or result.data_end is None:
        return "day"
    return grain_for_span(result.data_end - first)  # type: ignore[operator]


@st.cache_data(max_entries=24, show_spinner="Computing the funnel…")
def cached_funnel(view: DataView, params: FunnelParams, interval: str,
                  definition: str = "attempts") -> FunnelView:
    """The funnel of the view's events, its trend (``interval``: a grain or ``"auto"``;
    ``definition``: attempts or cohort), time to convert and breakdown."""
    events = filtered_events(view)
    result = params.compute(events)
    if result.is_empty or result.n_steps < 2:
        empty = pl.DataFrame()
        return FunnelView(result, empty, empty, empty)
    if interval == "auto":
        interval = trend_interval(result)
    note = ""
    if definition == "attempts" and params.order == "unordered":
        definition = "cohort"
        note = ("An unordered funnel has no step 1 to enter by, so its trend counts each "
                "entity once, in the period of its first entry (cohort).")
    if definition == "attempts":
        over_time = conversion_by_attempt(events, params, interval=interval)
    else:
        over_time = conversion_over_time(result, interval=interval)
    return FunnelView(
        result=result,
        over_time=over_time,
        time_to_convert=time_to_convert(result),
        breakdown=breakdown_table(result),
        definition=definition,
        interval=interval,
        trend_note=note,
    )


def default_steps(info: DatasetInfo, names_by_type: dict[str, str]) -> list[str]:
    """The canonical purchase funnel, as the most frequent raw event name of each step present."""
    return [names_by_type[t] for t in DEFAULT_FUNNEL if t in names_by_type]


def names_by_type(view: DataView) -> dict[str, str]:
    """Most frequent raw event name of each canonical event type (of the whole dataset)."""
    return _names_by_type(view.unfiltered())


@st.cache_data(max_entries=16, show_spinner=False)
def _names_by_type(view: DataView) -> dict[str, str]:
    top = (
        base_events(view).group_by("event_type", "event").agg(n=pl.len())
        .sort(["n", "event"], descending=[True, False]).group_by("event_type", maintain_order=True)
        .first().collect()
    )
    return dict(zip(top["event_type"].to_list(), top["event"].to_list(), strict=True))


def paths_link(params: FunnelParams, step: int) -> str:
    """Relative URL of the Paths page on what entities that dropped off at ``step`` did next."""
    return "paths?" + urlencode(paths_link_query(params, step))


def dropped_entities(result: FunnelResult, step: int) -> pl.DataFrame:
    """Entities that reached step ``step - 1`` but not ``step`` (for the download)."""
    return dropped_off(result, step)
