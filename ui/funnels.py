"""Cached wrappers and controls of the Funnels page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from core.filters import FilterParams
from core.funnels import (
    FunnelParams,
    FunnelResult,
    breakdown_table,
    conversion_over_time,
    dropped_off,
    time_to_convert,
)
from core.overview import DatasetInfo
from core.schema import DEFAULT_FUNNEL
from ui.data import filtered_events
from ui.links import shared_params

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1),
         "days": timedelta(days=1)}


@dataclass(frozen=True)
class FunnelView:
    """Everything the page draws for one funnel."""

    result: FunnelResult
    over_time: pl.DataFrame
    time_to_convert: pl.DataFrame
    breakdown: pl.DataFrame


@st.cache_data(max_entries=24, show_spinner="Computing the funnel…")
def cached_funnel(dataset_id: str, filters: FilterParams, seg: str, params: FunnelParams,
                  interval: str) -> FunnelView:
    result = params.compute(filtered_events(dataset_id, filters, seg))
    if result.is_empty or result.n_steps < 2:
        empty = pl.DataFrame()
        return FunnelView(result, empty, empty, empty)
    return FunnelView(
        result=result,
        over_time=conversion_over_time(result, interval=interval),
        time_to_convert=time_to_convert(result),
        breakdown=breakdown_table(result),
    )


def default_steps(info: DatasetInfo, names_by_type: dict[str, str]) -> list[str]:
    """The canonical purchase funnel, as the most frequent raw event name of each step present."""
    return [names_by_type[t] for t in DEFAULT_FUNNEL if t in names_by_type]


@st.cache_data(max_entries=16, show_spinner=False)
def names_by_type(dataset_id: str, seg: str = "") -> dict[str, str]:
    """Most frequent raw event name of each canonical event type."""
    from ui.data import base_events

    top = (
        base_events(dataset_id, seg).group_by("event_type", "event").agg(n=pl.len())
        .sort(["n", "event"], descending=[True, False]).group_by("event_type", maintain_order=True)
        .first().collect()
    )
    return dict(zip(top["event_type"].to_list(), top["event"].to_list(), strict=True))


def paths_link(params: FunnelParams, step: int) -> str:
    """Relative URL of the Paths page on what entities that dropped off at ``step`` did next."""
    query = [*shared_params(), ("paths.funnel", params.to_query()),
             ("paths.dropped_at", str(step))]
    return "paths?" + urlencode(query)


def dropped_entities(result: FunnelResult, step: int) -> pl.DataFrame:
    """Entities that reached step ``step - 1`` but not ``step`` (for the download)."""
    return dropped_off(result, step)
