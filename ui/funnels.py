"""Cached wrappers and controls of the Funnels page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from core.cohorts.model import COUNT_BY
from core.cohorts.sources import CohortDraft, funnel_conversion_members, funnel_dropoff_members
from core.compare import ComparisonWindow, align_earlier
from core.fmt import fmt_count, fmt_pct, fmt_pp, grain_for_span
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
from ui.cohorts import save_cohort_control
from ui.data import base_events, filtered_events
from ui.engine import runs_on_spark, spark_earlier, spark_events, view_members
from ui.overview import earlier_events, tile_change
from ui.urls import paths_link_query
from ui.view import DataView

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1),
         "days": timedelta(days=1)}


@dataclass(frozen=True)
class EarlierFunnel:
    """The same funnel over the earlier window it is compared with.

    ``result`` is the funnel of the earlier window's events (``None`` when the data hold
    nothing from it); ``trend`` is :func:`core.compare.align_earlier` of its conversion trend
    (same definition and grain as the current one), one row per current period."""

    window: ComparisonWindow
    result: FunnelResult | None
    trend: pl.DataFrame
    #: why no change is shown ("" when it is): see :func:`ui.overview.comparison_note`
    note: str = ""


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
    earlier: EarlierFunnel | None = None


def trend_interval(result: FunnelResult) -> str:
    """The trend grain from the span of the entries to the end of the data."""
    first = result.entities["step_1_at"].min() if result.n_steps else None
    if first is None or result.data_end is None:
        return "day"
    return grain_for_span(result.data_end - first)  # type: ignore[operator]


@st.cache_data(max_entries=24, show_spinner="Computing the funnel…")
def cached_funnel(view: DataView, params: FunnelParams, interval: str,
                  definition: str = "attempts", against: str | None = None) -> FunnelView:
    """The funnel of the view's events, its trend (``interval``: a grain or ``"auto"``;
    ``definition``: attempts or cohort), time to convert and breakdown; with ``against``
    (``"previous"`` or ``"year"``), the same funnel and trend over the earlier window.
    On Spark (:func:`ui.engine.runs_on_spark`): :func:`_spark_funnel`."""
    if runs_on_spark(view):
        return _spark_funnel(view, params, interval, definition, against)
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
    earlier = None
    if against is not None:
        earlier = _earlier_funnel(view, params, interval, definition, against)
    return FunnelView(
        result=result,
        over_time=_trend(events, params, interval, definition, result),
        time_to_convert=time_to_convert(result),
        breakdown=breakdown_table(result),
        definition=definition,
        interval=interval,
        trend_note=note,
        earlier=earlier,
    )


def _spark_funnel(view: DataView, params: FunnelParams, interval: str, definition: str,
                  against: str | None) -> FunnelView:
    """:func:`cached_funnel` of a lake dataset on Spark: the funnel, its trend (by attempt,
    :func:`core.spark.conversion_by_attempt_spark`, or by cohort, from the result), time to
    convert, the breakdown and, with ``against``, the same over the earlier window
    (:func:`ui.engine.spark_earlier`)."""
    from core.spark import compute_funnel_spark  # lazy: pyspark only when Spark is chosen

    source = spark_events(view)
    result = compute_funnel_spark(source, params)
    if result.is_empty or result.n_steps < 2:
        empty = pl.DataFrame()
        return FunnelView(result, empty, empty, empty)
    interval = trend_interval(result) if interval == "auto" else interval
    note = ""
    if definition == "attempts" and params.order == "unordered":
        definition = "cohort"
        note = ("An unordered funnel has no step 1 to enter by, so its trend counts each "
                "entity once, in the period of its first entry (cohort).")
    earlier = None
    if against is not None and (found := spark_earlier(view, against)) is not None:
        before = None if found.empty else compute_funnel_spark(found.events(), params)
        trend = _spark_trend(found.events(interval), params, interval, definition)
        earlier = EarlierFunnel(found.window, before,
                                align_earlier(trend, found.window, grain=interval), found.note)
    return FunnelView(
        result=result, over_time=_spark_trend(source, params, interval, definition, result),
        time_to_convert=time_to_convert(result), breakdown=breakdown_table(result),
        definition=definition, interval=interval, trend_note=note, earlier=earlier)


def _spark_trend(source, params: FunnelParams, interval: str, definition: str,
                 result: FunnelResult | None = None) -> pl.DataFrame:
    """:func:`_trend` on Spark."""
    from core.spark import compute_funnel_spark, conversion_by_attempt_spark  # lazy: pyspark

    if definition == "attempts":
        return conversion_by_attempt_spark(source, params, interval=interval)
    return conversion_over_time(result if result is not None else
                                compute_funnel_spark(source, params), interval=interval)


def _trend(events: pl.DataFrame, params: FunnelParams, interval: str, definition: str,
           result: FunnelResult | None = None) -> pl.DataFrame:
    """The conversion trend of ``events`` (``result``: their funnel, when already computed)."""
    if definition == "attempts":
        return conversion_by_attempt(events, params, interval=interval)
    return conversion_over_time(result if result is not None else params.compute(events),
                                interval=interval)


def _earlier_funnel(view: DataView, params: FunnelParams, interval: str, definition: str,
                    against: str) -> EarlierFunnel | None:
    """The funnel and its trend over the window before the view's period (the sidebar's date
    range, or the first to the last event); ``None`` when the view holds no event."""
    found = earlier_events(view, against)
    if found is None or found.undated is None:
        return None
    window = found.window
    result = params.compute(found.events) if found.events.height else None
    trend = _trend(found.undated.filter(window.earlier_filter(grain=interval)), params,
                   interval, definition)
    return EarlierFunnel(window, result, align_earlier(trend, window, grain=interval),
                         found.note)


def _earlier_unusable(earlier: EarlierFunnel | None, text: str) -> str | None:
    """The help of a tile that shows no change (``None`` when a change can be shown)."""
    if earlier is None:
        return text
    if earlier.note:
        return f"{text} {earlier.note}"
    before = earlier.result
    if before is None or before.entered == 0:
        return (f"{text} No change: nobody entered the funnel in the earlier period, "
                f"{earlier.window.label.removeprefix('vs ')}.")
    return None


def conversion_tile(result: FunnelResult, earlier: EarlierFunnel | None,
                    noun: str) -> tuple[str, str | None, str]:
    """The Conversion tile as ``(value, delta, help)``: the change in points against the
    earlier window when its data cover it and somebody entered there; else why not."""
    now = result.steps.row(-1, named=True)["conversion_from_first"]
    text = f"{noun.capitalize()} who reached the last step, of those who entered."
    unusable = _earlier_unusable(earlier, text)
    if unusable is not None:
        return fmt_pct(now), None, unusable
    w, before = earlier.window, earlier.result
    last = before.steps.row(-1, named=True)
    then = last["conversion_from_first"]
    return fmt_pct(now), f"{fmt_pp(now - then)} {w.short_label}", (
        f"{text} {fmt_pct(then)} in the earlier period, {w.label.removeprefix('vs ')} "
        f"({fmt_count(last['entities'])} of {fmt_count(before.entered)} {noun}).")


def count_tile(result: FunnelResult, earlier: EarlierFunnel | None, what: str,
               text: str) -> tuple[str, str | None, str]:
    """A count tile (``what``: ``"entered"``, ``"converted"`` or ``"excluded"``) as ``(value,
    delta, help)``: the change in percent against the earlier window, with the earlier count
    in the help; no change when the earlier count is 0 (a percentage of nothing) or the
    earlier window cannot be compared."""
    def count(r: FunnelResult) -> int:
        return {"entered": r.entered, "excluded": r.n_excluded,
                "converted": r.steps.row(-1, named=True)["entities"]}[what]

    now = count(result)
    unusable = _earlier_unusable(earlier, text)
    if unusable is not None:
        return fmt_count(now), None, unusable
    w, then = earlier.window, count(earlier.result)
    earlier_text = f"{fmt_count(then)} in the earlier period, {w.label.removeprefix('vs ')}."
    if then == 0:
        return fmt_count(now), None, f"{text} {earlier_text} No change in percent from 0."
    return fmt_count(now), tile_change(now, then, w), f"{text} {earlier_text}"


def default_steps(info: DatasetInfo, names_by_type: dict[str, str]) -> list[str]:
    """The canonical purchase funnel, as the most frequent raw event name of each step present."""
    return [names_by_type[t] for t in DEFAULT_FUNNEL if t in names_by_type]


def names_by_type(view: DataView) -> dict[str, str]:
    """Most frequent raw event name of each canonical event type (of the whole dataset)."""
    return _names_by_type(view.unfiltered())


@st.cache_data(max_entries=16, show_spinner=False)
def _names_by_type(view: DataView) -> dict[str, str]:
    if runs_on_spark(view):
        from core.spark import overview_spark  # lazy: pyspark only when Spark is chosen

        counts = overview_spark(spark_events(view)).mix.rename({"count": "n"}).lazy()
    else:
        counts = base_events(view).group_by("event_type", "event").agg(n=pl.len())
    top = (
        counts.sort(["n", "event"], descending=[True, False])
        .group_by("event_type", maintain_order=True).first().collect()
    )
    return dict(zip(top["event_type"].to_list(), top["event"].to_list(), strict=True))


def paths_link(params: FunnelParams, step: int) -> str:
    """Relative URL of the Paths page on what entities that dropped off at ``step`` did next."""
    return "paths?" + urlencode(paths_link_query(params, step))


def dropped_entities(result: FunnelResult, step: int) -> pl.DataFrame:
    """Entities that reached step ``step - 1`` but not ``step`` (for the download)."""
    return dropped_off(result, step)


def _funnel_members(view: DataView, result: FunnelResult, find) -> CohortDraft:
    """``find(events)`` of a funnel's users: without events for a funnel of users, else with
    the view's events, which give the users of its sessions or orders (per partition on
    Spark: :func:`ui.engine.view_members`)."""
    return find(None) if result.count_by == COUNT_BY else view_members(view, find)


def save_dropoff_cohort(view: DataView, result: FunnelResult, step: int) -> None:
    """The "save as cohort" form of the users who reached ``step - 1`` but not ``step``."""
    filters = view.filters

    def draft() -> CohortDraft:
        return _funnel_members(view, result, lambda events: funnel_dropoff_members(
            result, step, events=events, filters=filters))

    save_cohort_control(view, draft, source="funnel_dropoff", key="funnel.cohort_dropoff",
                        label="Save their users as a cohort",
                        name=f"Dropped off before {result.labels[step - 1]}")


def conversion_cohort_section(view: DataView, result: FunnelResult, noun: str) -> None:
    """Who reached a chosen step (the last by default: who converted), and the form that saves
    their users as a cohort."""
    n = result.n_steps
    st.subheader("Who converted")
    # plain step numbers: a bound selectbox puts the option label in the URL
    step = st.columns([1, 3])[0].selectbox(
        "Reached step", list(range(2, n + 1)), index=n - 2, key="funnel.reach_step",
        bind="query-params", help="The last step: those who converted through the whole funnel.")
    count = result.steps.row(step - 1, named=True)["entities"]
    what = "converted through the whole funnel" if step == n else "reached it"
    st.caption(f"{count:,} {noun} reached step {step} ({result.labels[step - 1]}): {what}.")

    filters = view.filters

    def draft() -> CohortDraft:
        return _funnel_members(view, result, lambda events: funnel_conversion_members(
            result, step, events=events, filters=filters))

    name = "Converted" if step == n else f"Reached {result.labels[step - 1]}"
    save_cohort_control(view, draft, source="funnel_conversion", key="funnel.cohort_conversion",
                        label="Save their users as a cohort", name=name)
