"""Cached wrappers and controls of the Overview page, and the period comparison the other pages
share: the "Compare with" control, the earlier window's events and the tiles' changes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from typing import Final

import polars as pl
import streamlit as st

from core.compare import ComparisonWindow, comparison_window
from core.filters import FilterParams
from core.fmt import fmt_count, fmt_money, fmt_pct, fmt_pp
from core.overview import (
    OverviewMetrics,
    PeriodComparison,
    activity_trend,
    compare_periods,
    detect_currency,
    event_mix,
    headline_tiles,
    overview_metrics,
)
from ui.data import filtered_events
from ui.engine import runs_on_spark, spark_events
from ui.urls import publish, seed_from_url
from ui.view import DataView

#: Currencies offered besides "auto" (detected from the export) and "none".
CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CNY", "RUB", "INR", "BRL", "CHF", "SEK", "PLN")
#: The comparison choices (the value in the URL -> the control's label).
COMPARE_CHOICES: Final[dict[str, str]] = {
    "none": "None",
    "previous": "Previous period",
    "year": "Same dates a year earlier",
}
_COMPARE_HELP = ("Previous period: the same number of days just before the period (the "
                 "sidebar's date range). A year earlier: the same dates one year before "
                 "(29 February compares with 28 February).")
#: Headline numbers in the order of :func:`core.overview.headline_tiles`, with their formats.
_TILE_NUMBERS: Final = (("users", fmt_count), ("sessions", fmt_count), ("orders", fmt_count),
                        ("revenue", fmt_money), ("conversion_rate", fmt_pct),
                        ("cart_abandonment_rate", fmt_pct), ("average_order_value", fmt_money),
                        ("events", fmt_count))


def compare_control(key: str, *, default: str = "previous", container=st) -> str | None:
    """The "Compare with" control, bound to the URL under ``key`` (its value, not its label).

    Returns ``"previous"``, ``"year"`` or ``None`` (no comparison). A link value that is not
    one of :data:`COMPARE_CHOICES` is left out (the link watcher names it)."""
    def parse(raw: list[str]) -> str:
        if raw[-1] not in COMPARE_CHOICES:
            raise ValueError(f"expected one of {', '.join(COMPARE_CHOICES)}")
        return raw[-1]

    seed_from_url(key, key, parse, [])
    if key not in st.session_state:
        st.session_state[key] = default
    choice = container.segmented_control(
        "Compare with", list(COMPARE_CHOICES), format_func=COMPARE_CHOICES.get, key=key,
        help=_COMPARE_HELP) or "none"
    publish(key, [] if choice == default else [choice])
    return None if choice == "none" else choice


@dataclass(frozen=True)
class OverviewView:
    """Everything the Overview page draws.

    ``comparison`` is ``None`` when no comparison was asked for; ``dated`` tells whether the
    sidebar's date range set the period (otherwise it is the whole data)."""

    metrics: OverviewMetrics
    comparison: PeriodComparison | None
    trend: pl.DataFrame
    mix: pl.DataFrame
    currency: str | None
    currencies_found: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None
    dated: bool = False


def comparison_note(window: ComparisonWindow, *, dated: bool) -> str:
    """Why no change is shown (``""`` when it is): the window's coverage note, or, when no
    date range was picked (the period is the whole data), that nothing comes before it."""
    if window.comparable:
        return ""
    if not dated:
        earlier = "a year before it" if window.against == "year" else "before it"
        return (f"No change: the period is the whole data, and the data hold nothing {earlier}. "
                "Pick a date range in the sidebar to compare.")
    return window.coverage_note


def current_range(filters: FilterParams, first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """The current period ``[start, end)``: the sidebar's date range (whole UTC days), its open
    ends taken from the data (``last`` plus a microsecond, so the last event is inside)."""
    start = (datetime.combine(filters.date_from, time.min, tzinfo=timezone.utc)
             if filters.date_from else first)
    end = (datetime.combine(filters.date_to, time.min, tzinfo=timezone.utc) + timedelta(days=1)
           if filters.date_to else last + timedelta(microseconds=1))
    return start, end


def undated_events(view: DataView) -> pl.DataFrame:
    """The view's events with its property filters but without its date range: where the
    earlier period's numbers come from."""
    filters = view.filters
    if filters.date_from is None and filters.date_to is None:
        return filtered_events(view)
    return filtered_events(view.with_filters(replace(filters, date_from=None, date_to=None)))


@dataclass(frozen=True)
class EarlierEvents:
    """The earlier window a page compares its numbers with, and the view's events in it (its
    property filters, segments and cohorts; only the dates shifted)."""

    window: ComparisonWindow
    events: pl.DataFrame
    #: why no change is shown ("" when it is): see :func:`comparison_note`
    note: str = ""
    #: the view's events at every date (:func:`undated_events`): a trend's earlier periods
    #: may reach past the window (``window.earlier_filter(grain=...)``)
    undated: pl.DataFrame | None = None


def earlier_events(view: DataView, against: str) -> EarlierEvents | None:
    """The events of the window before the view's period (the sidebar's date range, or the
    first to the last event) that ``against`` (``"previous"`` or ``"year"``) names; ``None``
    when the view holds no event (no period to compare)."""
    first, last = filtered_events(view).select(
        pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).row(0)
    if first is None:
        return None
    start, end = current_range(view.filters, first, last)
    undated = undated_events(view)
    window = comparison_window(start, end, against=against,  # type: ignore[arg-type]
                               events=undated)
    dated = view.filters.date_from is not None or view.filters.date_to is not None
    return EarlierEvents(window, undated.filter(window.earlier_filter()),
                         comparison_note(window, dated=dated), undated)


def tile_change(now: float, before: float | None, window: ComparisonWindow, *,
                rate: bool = False) -> str | None:
    """A tile's delta: a rate's change in points, a count's in percent, then what it is
    against (``"+4.2% vs previous 30 days"``); ``None`` when there is no earlier value (or a
    count of zero, of which no percent change exists)."""
    if before is None or (not rate and before == 0):
        return None
    change = fmt_pp(now - before) if rate else fmt_pct((now - before) / before, signed=True)
    return f"{change} {window.short_label}"


@st.cache_data(max_entries=16, show_spinner="Computing overview…")
def cached_overview(view: DataView, grain: str = "auto",
                    against: str | None = "previous") -> OverviewView:
    """Headline numbers (against the earlier period ``against``: ``"previous"``, ``"year"`` or
    ``None``), the activity trend (with the earlier period's series) and the event mix. On
    Spark (:func:`ui.engine.runs_on_spark`): :func:`_spark_overview`, without a comparison."""
    if runs_on_spark(view):
        return _spark_overview(view, grain, against)
    events = filtered_events(view)
    filters = view.filters
    metrics = overview_metrics(events)
    currency, found = detect_currency(events)
    if metrics.events == 0:
        return OverviewView(metrics, None, pl.DataFrame(), pl.DataFrame(), currency, found)
    start, end = current_range(filters, metrics.first, metrics.last)  # type: ignore[arg-type]
    comparison = None
    if against is not None:
        comparison = compare_periods(undated_events(view), start=start, end=end,
                                     against=against)  # type: ignore[arg-type]
    # a date range cut the data: its ends, not the first and last event, bound the periods
    trend = activity_trend(events, grain=grain, start=start if filters.date_from else None,
                           end=end if filters.date_to else None, against=against,  # type: ignore[arg-type]
                           earlier_events=undated_events(view) if against else None)
    dated = filters.date_from is not None or filters.date_to is not None
    return OverviewView(metrics, comparison, trend, event_mix(events), currency, found,
                        start, end, dated)


def _spark_overview(view: DataView, grain: str, against: str | None) -> OverviewView:
    """The Overview of a lake dataset on Spark (:func:`core.spark.overview_spark`): the same
    numbers as :func:`cached_overview`, the earlier period's from the view's events without
    its date range."""
    from core.spark import overview_spark  # lazy: pyspark only when Spark is chosen

    filters = view.filters
    start = (datetime.combine(filters.date_from, time.min, tzinfo=timezone.utc)
             if filters.date_from else None)
    end = (datetime.combine(filters.date_to, time.min, tzinfo=timezone.utc) + timedelta(days=1)
           if filters.date_to else None)
    undated = view.with_filters(replace(filters, date_from=None, date_to=None))
    found = overview_spark(spark_events(view), grain=grain, start=start, end=end,
                           against=against,  # type: ignore[arg-type]
                           earlier_events=spark_events(undated) if against else None)
    m = found.metrics
    if m.events == 0:
        return OverviewView(m, None, pl.DataFrame(), pl.DataFrame(), found.currency, found.found)
    start, end = current_range(filters, m.first, m.last)  # type: ignore[arg-type]
    return OverviewView(m, found.comparison, found.trend, found.mix, found.currency, found.found,
                        start, end, filters.date_from is not None or filters.date_to is not None)


def overview_tiles(view: OverviewView, currency: str | None) -> list[tuple[str, str, str | None, str]]:
    """The tiles as ``(label, value, delta, help)``: :func:`core.overview.headline_tiles`; the
    help ends with the earlier period's value and dates when the change is shown, with why no
    change is shown when it is not, and with nothing about a comparison when none was asked."""
    m, cmp = view.metrics, view.comparison
    if cmp is None:
        cmp = PeriodComparison(m, m, view.start, view.end, view.start)  # type: ignore[arg-type]
        tail = ""
    else:
        tail = _why_not(view)
    own = f"Change {cmp.label}." if cmp.comparable else cmp.note
    out = []
    for (label, value, delta, help_), (name, fmt) in zip(
            headline_tiles(cmp, currency=currency), _TILE_NUMBERS, strict=True):
        text = help_.removesuffix(own).strip()
        if view.comparison is not None and cmp.comparable:
            before = fmt(getattr(cmp.previous, name))
            tail = f"{before} in the earlier period, {cmp.label.removeprefix('vs ')}."
        out.append((label, value, delta if view.comparison else None, f"{text} {tail}".strip()))
    return out


def period_caption(view: OverviewView) -> str:
    """What the tiles cover and what they are compared with, in words."""
    m, cmp = view.metrics, view.comparison
    if view.dated and view.start is not None and view.end is not None:
        last = view.end - timedelta(microseconds=1)
        days = (f"{view.start:%Y-%m-%d}" if last.date() == view.start.date()
                else f"{view.start:%Y-%m-%d} – {last:%Y-%m-%d}")
        period = f"{days} (UTC)"
    else:
        period = (f"the whole data, {m.first:%Y-%m-%d} – {m.last:%Y-%m-%d} (UTC; no date "
                  "range picked)")
    if cmp is None:
        return f"Tiles: {period}."
    if cmp.comparable:
        return f"Tiles: {period}; changes {cmp.label}."
    if not view.dated and m.last is not None:
        lo = (m.last - timedelta(days=29)).date()
        earlier = "a year before it" if cmp.label.startswith("vs the same") else "before it"
        return (f"Tiles: {period}. No changes: the data hold nothing {earlier}. Pick a date "
                f"range in the sidebar to compare, for instance the last 30 days ({lo} – "
                f"{m.last.date()}).")
    return f"Tiles: {period}. {_why_not(view)}"


def _why_not(view: OverviewView) -> str:
    """Why the tiles show no change (``""`` when they do)."""
    cmp = view.comparison
    if cmp is None or cmp.comparable:
        return ""
    note = comparison_note(cmp.window, dated=view.dated) if cmp.window is not None else ""
    return note or cmp.note
